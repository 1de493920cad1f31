"""Text that both databases can store: the one rule for names, ids and texts in request bodies.

PostgreSQL cannot store a NUL character in a text column (SQLite can), and a NUL or another
control character in a name is never meant. Names and ids (one line) may hold no control
character at all; longer texts (a pasted book) may hold tabs, line and page breaks. Everything
that a request stores or looks up by is one of these types, so that both databases answer a 422
that says what to remove, never a 500.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# A name: no C0 control nor DEL. A text may keep \t \n \v \f \r (and DEL, as imported files may).
_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0e-\x1f]")


def forbidden_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character `value` may not hold, as U+XXXX; None when it is storable."""
    found = (_TEXT_FORBIDDEN if multiline else _NAME_FORBIDDEN).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def _check(value: str, multiline: bool) -> str:
    character = forbidden_character(value, multiline=multiline)
    if character is not None:
        raise ValueError(f"it contains the control character {character}: remove it")
    return value


def storable_name(value: str) -> str:
    return _check(value, multiline=False)


def storable_text(value: str) -> str:
    return _check(value, multiline=True)


Name = Annotated[str, AfterValidator(storable_name)]
"""A name or id on one line (key and voice names, titles, usernames, voice and chapter ids)."""

Text = Annotated[str, AfterValidator(storable_text)]
"""A longer text (a pasted book): tabs and line breaks allowed, other control characters not."""
