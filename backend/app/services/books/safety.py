"""Decide what an uploaded file is by its bytes, and vet EPUB archives before anything unpacks them.

Every archive is checked against limits on member count, on each member's and the total
uncompressed size (declared and actual), on each member's compression ratio, and for nested
archives, so that a zip bomb is refused after reading at most `max_member_bytes` of output,
in small chunks, never all in memory.
"""

from __future__ import annotations

import codecs
import posixpath
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from lxml import etree

from app.schemas.text import forbidden_character
from app.services.books.parsed import BookImportError

EPUB_MIMETYPE = b"application/epub+zip"
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NESTED_ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf", b"BZh")
NESTED_ARCHIVE_SUFFIXES = (".zip", ".epub", ".gz", ".tgz", ".rar", ".7z", ".bz2", ".xz", ".tar")
# Font obfuscation (IDPF and Adobe) is not DRM: the text stays readable.
FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
# Adobe ADEPT (rights.xml), Apple FairPlay (sinf.xml), Readium LCP (license.lcpl).
DRM_MARKER_FILES = {"META-INF/rights.xml", "META-INF/sinf.xml", "META-INF/license.lcpl"}
XMLENC = "http://www.w3.org/2001/04/xmlenc#"
UNSUPPORTED_TYPE = (
    "This file is neither an EPUB nor UTF-8 text. Upload an .epub or a UTF-8 .txt file."
)
DRM_MESSAGE = (
    "This EPUB is DRM-protected, and DRM isn't supported. "
    "Upload a DRM-free copy (for example from Project Gutenberg or your publisher)."
)


class FileKind(StrEnum):
    EPUB = "epub"
    TEXT = "text"


@dataclass(frozen=True)
class ArchiveLimits:
    max_uncompressed_bytes: int
    max_members: int
    max_ratio: float
    # No single file of a book (a chapter, an image) unpacks to more than this.
    max_member_bytes: int = 16 * 1024 * 1024
    # Tiny members compress extremely well (a few lines of markup) and are harmless whatever
    # their ratio; the ratio applies to every member above this size.
    ratio_floor_bytes: int = 64 * 1024


def looks_like_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def sniff_kind(path: Path, claimed_epub: bool) -> FileKind:
    """EPUB if the bytes are a zip, text if they are valid UTF-8; the claimed type only refuses."""
    with path.open("rb") as handle:
        head = handle.read(8)
    if looks_like_zip(head):
        return FileKind.EPUB
    if claimed_epub:
        raise BookImportError(422, "This is not a valid EPUB: the file is not a zip archive.")
    if is_utf8_text(path):
        return FileKind.TEXT
    raise BookImportError(415, UNSUPPORTED_TYPE)


def is_utf8_text(path: Path, chunk_size: int = 1 << 16) -> bool:
    """Valid UTF-8 with no NUL or other binary control bytes, checked chunk by chunk."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                text = decoder.decode(chunk)
                if forbidden_character(text, multiline=True) is not None:
                    return False
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def vet_epub_archive(path: Path, limits: ArchiveLimits) -> None:
    """Raise BookImportError unless the zip is a plausible, DRM-free, bomb-free EPUB."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_declared_sizes(infos, limits)
            _check_member_names(infos)
            _check_is_epub(archive)
            _check_drm(archive)
            _check_actual_sizes(archive, infos, limits)
    except zipfile.BadZipFile as exc:
        raise BookImportError(422, f"This EPUB is damaged: {exc}. Try exporting it again.") from exc
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
        raise BookImportError(422, f"This EPUB's archive cannot be read: {exc}.") from exc


def _too_large(limits: ArchiveLimits) -> BookImportError:
    limit_mb = limits.max_uncompressed_bytes // (1024 * 1024)
    return BookImportError(
        413,
        f"This EPUB unpacks to more than {limit_mb} MB, which is refused as a possible zip bomb.",
    )


def _check_declared_sizes(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if len(infos) > limits.max_members:
        raise BookImportError(
            413, f"This EPUB has {len(infos)} files; at most {limits.max_members} are accepted."
        )
    if sum(info.file_size for info in infos) > limits.max_uncompressed_bytes:
        raise _too_large(limits)
    for info in infos:
        _check_member_size(info, info.file_size, limits)


def _check_member_size(info: zipfile.ZipInfo, size: int, limits: ArchiveLimits) -> None:
    """One member's size (declared, or unpacked so far) against the per-member size and ratio."""
    if size > limits.max_member_bytes:
        limit_mb = limits.max_member_bytes // (1024 * 1024)
        raise BookImportError(
            413,
            f"A file in this EPUB unpacks to more than {limit_mb} MB, which is refused as a "
            "possible zip bomb. Split the book, or export it again.",
        )
    if size > limits.ratio_floor_bytes and size > limits.max_ratio * max(info.compress_size, 1):
        raise BookImportError(
            413,
            f"A file in this EPUB is compressed more than {limits.max_ratio:.0f}:1, "
            "which is refused as a possible zip bomb.",
        )


def _check_member_names(infos: list[zipfile.ZipInfo]) -> None:
    for info in infos:
        name = info.filename
        if name.startswith("/") or ".." in posixpath.normpath(name).split("/"):
            raise BookImportError(
                422, "This EPUB is malformed: it contains a file path outside the book."
            )
        if name.lower().endswith(NESTED_ARCHIVE_SUFFIXES):
            raise BookImportError(
                422, "This EPUB contains another archive inside it, which isn't supported."
            )


def _check_is_epub(archive: zipfile.ZipFile) -> None:
    names = set(archive.namelist())
    mimetype_ok = "mimetype" in names and _read_small(archive, "mimetype").strip() == EPUB_MIMETYPE
    if not mimetype_ok and "META-INF/container.xml" not in names:
        raise BookImportError(
            422,
            "This zip file is not an EPUB: it has no 'mimetype' (application/epub+zip) "
            "and no META-INF/container.xml.",
        )
    if "META-INF/container.xml" not in names:
        raise BookImportError(422, "This EPUB is malformed: META-INF/container.xml is missing.")


def _read_small(archive: zipfile.ZipFile, name: str, limit: int = 1 << 20) -> bytes:
    with archive.open(name) as member:
        return member.read(limit)


def _check_drm(archive: zipfile.ZipFile) -> None:
    names = set(archive.namelist())
    if names & DRM_MARKER_FILES:
        raise BookImportError(422, DRM_MESSAGE)
    if "META-INF/encryption.xml" not in names:
        return
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(_read_small(archive, "META-INF/encryption.xml"), parser)
    except etree.XMLSyntaxError:
        raise BookImportError(422, DRM_MESSAGE) from None  # unreadable encryption info: assume DRM
    for method in root.iter(f"{{{XMLENC}}}EncryptionMethod"):
        if method.get("Algorithm") not in FONT_OBFUSCATION:
            raise BookImportError(422, DRM_MESSAGE)


def _check_actual_sizes(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: ArchiveLimits
) -> None:
    """Decompress every member in chunks, counting real output (declared sizes can lie)."""
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        with archive.open(info) as member:
            unpacked = 0
            while chunk := member.read(1 << 16):
                if not unpacked and chunk.startswith(NESTED_ARCHIVE_MAGIC):
                    raise BookImportError(
                        422, "This EPUB contains another archive inside it, which isn't supported."
                    )
                unpacked += len(chunk)
                total += len(chunk)
                _check_member_size(info, unpacked, limits)
                if total > limits.max_uncompressed_bytes:
                    raise _too_large(limits)
