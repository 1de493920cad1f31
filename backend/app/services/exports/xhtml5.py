"""XHTML 1.1 (EPUB 2) markup that HTML5 (EPUB 3) no longer allows, turned into CSS.

EPUB 2 books carry presentational HTML: align, valign, width on tables, <center>, <font>, border
on images, clear on <br>. EPUBCheck refuses all of it in an EPUB 3, so each obsolete attribute
becomes the inline style it meant, and each obsolete element its modern twin; the text and the
look stay. Attributes with no visual meaning (summary, cellpadding) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

XHTML_NS = "http://www.w3.org/1999/xhtml"
_NUMBER = re.compile(r"^\d+$")
_FONT_SIZES = {"1": "x-small", "2": "small", "3": "medium", "4": "large", "5": "x-large"}
_FONT_SIZES |= {"6": "xx-large", "7": "xx-large", "-1": "smaller", "+1": "larger"}


def _length(value: str) -> str:
    return f"{value}px" if _NUMBER.match(value.strip()) else value.strip()


def _align(name: str, value: str) -> str:
    value = value.strip().lower()
    if name in ("img", "object", "iframe", "embed"):
        return f"float: {value}" if value in ("left", "right") else f"vertical-align: {value}"
    if name == "table":
        if value == "center":
            return "margin-left: auto; margin-right: auto"
        return f"float: {value}" if value in ("left", "right") else ""
    return f"text-align: {value}"


# attribute → (elements it is obsolete on, or None for all; its CSS, "" to drop it)
_Rule = tuple[frozenset[str] | None, Callable[[str, str], str]]
_SIZED = frozenset({"img", "video", "canvas", "iframe", "embed", "object", "input", "source"})
_ATTRIBUTES: dict[str, _Rule] = {
    "align": (None, _align),
    "valign": (None, lambda _n, v: f"vertical-align: {v.strip().lower()}"),
    "bgcolor": (None, lambda _n, v: f"background-color: {v.strip()}"),
    "clear": (frozenset({"br"}), lambda _n, v: f"clear: {'both' if v == 'all' else v}"),
    "nowrap": (None, lambda _n, _v: "white-space: nowrap"),
    "cellpadding": (None, lambda _n, _v: ""),
    "cellspacing": (frozenset({"table"}), lambda _n, v: f"border-spacing: {_length(v)}"),
    "summary": (frozenset({"table"}), lambda _n, _v: ""),
    "frame": (frozenset({"table"}), lambda _n, _v: ""),
    "rules": (frozenset({"table"}), lambda _n, _v: ""),
    "char": (None, lambda _n, _v: ""),
    "charoff": (None, lambda _n, _v: ""),
    "axis": (None, lambda _n, _v: ""),
    "abbr": (frozenset({"td"}), lambda _n, _v: ""),
    "scope": (frozenset({"td"}), lambda _n, _v: ""),
    "noshade": (frozenset({"hr"}), lambda _n, _v: ""),
    "size": (frozenset({"hr"}), lambda _n, v: f"height: {_length(v)}"),
    "compact": (None, lambda _n, _v: ""),
    "type": (frozenset({"ul", "li"}), lambda _n, v: f"list-style-type: {v.strip().lower()}"),
    "border": (frozenset({"img", "object"}), lambda _n, v: f"border: {_length(v)} solid"),
    "hspace": (None, lambda _n, v: f"margin-left: {_length(v)}; margin-right: {_length(v)}"),
    "vspace": (None, lambda _n, v: f"margin-top: {_length(v)}; margin-bottom: {_length(v)}"),
    "language": (frozenset({"script"}), lambda _n, _v: ""),
    "name": (frozenset({"img", "form"}), lambda _n, _v: ""),
    "longdesc": (None, lambda _n, _v: ""),
}
# element → (its HTML5 twin, the style that keeps its look)
_ELEMENTS = {
    "center": ("div", "text-align: center"),
    "font": ("span", ""),
    "big": ("span", "font-size: larger"),
    "tt": ("code", ""),
    "strike": ("s", ""),
    "acronym": ("abbr", ""),
    "dir": ("ul", ""),
}
_FONT = {
    "color": lambda v: f"color: {v.strip()}",
    "face": lambda v: f"font-family: {v.strip()}",
    "size": lambda v: f"font-size: {_FONT_SIZES.get(v.strip(), 'medium')}",
}


def _size_rule(name: str, attribute: str, value: str) -> str | None:
    """width/height: allowed as whole pixels on images and the like; CSS everywhere else."""
    if name in _SIZED and _NUMBER.match(value.strip()):
        return None
    return f"{attribute}: {_length(value)}"


def _applies(attribute: str, name: str) -> bool:
    """Whether `attribute` is obsolete on element `name` (and has a rule here)."""
    if attribute not in _ATTRIBUTES:
        return False
    elements = _ATTRIBUTES[attribute][0]
    return elements is None or name in elements


def _styles(element: etree._Element, name: str) -> list[str]:
    styles = []
    for attribute in list(element.attrib):
        if "}" in attribute:
            continue  # namespaced (xml:lang, epub:type): not presentational
        value = element.get(attribute, "")
        if name == "font" and attribute in _FONT:
            css: str | None = _FONT[attribute](value)
        elif attribute in ("width", "height"):
            css = _size_rule(name, attribute, value)
        elif _applies(attribute, name):
            css = _ATTRIBUTES[attribute][1](name, value)
        else:
            continue
        if css is None:
            continue
        del element.attrib[attribute]
        if css:
            styles.append(css)
    return styles


def modernize(root: etree._Element) -> None:
    """Rewrite, in place, the obsolete presentational markup of an XHTML document."""
    for element in root.iter(f"{{{XHTML_NS}}}*"):
        name = etree.QName(element).localname
        styles = _styles(element, name)
        if name in _ELEMENTS:
            twin, style = _ELEMENTS[name]
            element.tag = f"{{{XHTML_NS}}}{twin}"
            styles.insert(0, style)
        styles = [s for s in styles if s]
        if styles:
            own = element.get("style", "").strip().rstrip(";")
            element.set("style", "; ".join([*([own] if own else []), *styles]))
