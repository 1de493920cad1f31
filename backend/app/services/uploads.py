"""Streaming multipart uploads with a size limit and content sniffing: the one upload reader
of voices (POST /api/voice/upload, /v1/voices/add) and books (POST /api/books).

Starlette's form parser receives the whole body before the route runs. Here the body is
parsed as it arrives: a file part that passes its limit, or whose first bytes are not a
known container, stops the upload at once with 413 or 415, and nothing larger than
one network chunk is ever held in memory (file parts go straight to a temp file on disk,
next to their final place, written once). The limits come from app.core.limits.UPLOADS,
the table the body cap (app/api/body_limit.py) uses too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from app.core.config import Settings
from app.core.limits import MB, UploadLimit
from app.services.errors import BadRequest, TooLarge, UnsupportedMediaType

SNIFF_BYTES = 12
UPLOAD_PREFIX = ".upload-"  # temp files of uploads in progress (swept at start: app.main)
MAX_FIELD_BYTES = 64 * 1024  # one text field
MAX_TEXT_FIELDS = 16  # text fields per upload (names, labels, descriptions)

AUDIO_TYPES_HINT = "wav, mp3, m4a, webm, ogg or flac"


def sniff_audio(head: bytes) -> str | None:
    """The audio container in `head` (the first bytes of a file), by magic bytes, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3":
        return "mp3"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
        if version != 0b01 and layer != 0b00:  # reserved values (layer 0 is AAC's ADTS)
            return "mp3"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    return None


@dataclass
class UploadedFile:
    field_name: str
    filename: str | None
    path: Path  # a temp file next to its final place, so os.replace is atomic
    size: int = 0
    kind: str | None = None  # sniffed container, e.g. "wav"
    content_type: str | None = None  # as the client declared it


@dataclass
class MultipartForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)

    def discard(self) -> None:
        for upload in self.files:
            upload.path.unlink(missing_ok=True)


class _Receiver:
    """Parser callbacks: route each part to a text buffer or a temp file, enforcing limits."""

    def __init__(
        self,
        temp_dir: Path,
        file_fields: set[str],
        max_file_bytes: int,
        max_files: int,
        sniff: Callable[[bytes], str | None] | None,
        advice: str,
    ) -> None:
        self.temp_dir, self.file_fields = temp_dir, file_fields
        self.max_file_bytes, self.max_files, self.sniff = max_file_bytes, max_files, sniff
        self.advice = advice
        self.form = MultipartForm()
        self._header_field = b""
        self._header_value = b""
        self._text_fields = 0
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._text: bytearray | None = None
        self._file: UploadedFile | None = None
        self._handle: object | None = None
        self._head = b""

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self._headers, self._header_field, self._header_value = {}, b"", b""

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        if filename is None:
            self._text_fields += 1
            if self._text_fields > MAX_TEXT_FIELDS:
                raise BadRequest(
                    f"Too many form fields: send at most {MAX_TEXT_FIELDS} with the file."
                )
            self._text = bytearray()
            return
        if self._name not in self.file_fields:
            raise BadRequest(f"Unexpected file field '{self._name}'.")
        if len(self.form.files) >= self.max_files:
            raise BadRequest(f"Send at most {self.max_files} file(s).")
        fd, name = tempfile.mkstemp(dir=self.temp_dir, prefix=UPLOAD_PREFIX)
        self._handle = os.fdopen(fd, "wb")
        self._file = UploadedFile(self._name, filename.decode("utf-8", "replace"), Path(name))
        declared_type = self._headers.get(b"content-type")
        if declared_type:
            self._file.content_type = declared_type.decode("latin-1")
        self._head = b""
        self.form.files.append(self._file)

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._text is not None:
            self._text += chunk
            if len(self._text) > MAX_FIELD_BYTES:
                raise TooLarge(f"The field '{self._name}' is too long.")
            return
        assert self._file is not None and self._handle is not None
        self._file.size += len(chunk)
        if self._file.size > self.max_file_bytes:
            raise TooLarge(
                f"The file is larger than {self.max_file_bytes // MB} MB: {self.advice}."
            )
        if self.sniff is not None and self._file.kind is None and len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._check_type()
        self._handle.write(chunk)  # type: ignore[attr-defined]

    def _check_type(self) -> None:
        assert self._file is not None and self.sniff is not None
        self._file.kind = self.sniff(self._head)
        if self._file.kind is None:
            raise UnsupportedMediaType(
                f"'{self._file.filename}' is not an audio file we can read: "
                f"send {AUDIO_TYPES_HINT}."
            )

    def part_end(self) -> None:
        if self._text is not None:
            self.form.fields[self._name] = self._text.decode("utf-8", "replace")
            self._text = None
            return
        if self._file is not None:
            self._handle.close()  # type: ignore[union-attr]
            self._handle = None
            if self.sniff is not None and self._file.kind is None:
                self._check_type()  # files shorter than the sniff window
            self._file = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()  # type: ignore[attr-defined]


async def receive_multipart(
    request: Request,
    upload: UploadLimit,
    settings: Settings,
    *,
    temp_dir: Path,
    file_fields: set[str],
    sniff: Callable[[bytes], str | None] | None = sniff_audio,
) -> MultipartForm:
    """Parse a multipart body as it streams in, within `upload`'s limits (app.core.limits).
    `sniff` checks each file's first bytes (None: any content). The caller owns (and must
    clean up) the files."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedMediaType("Send the upload as multipart/form-data.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > upload.cap(settings):
        # Refuse before reading a single byte of the body.
        raise TooLarge(
            f"The upload is larger than {upload.limit(settings) // MB} MB: {upload.advice}."
        )
    temp_dir.mkdir(parents=True, exist_ok=True)
    receiver = _Receiver(
        temp_dir, file_fields, upload.file_bytes(settings), upload.max_files, sniff, upload.advice
    )
    parser = MultipartParser(params[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        receiver.close()
        receiver.form.discard()
        raise BadRequest(f"The multipart body is malformed: {exc}") from exc
    except BaseException:
        receiver.close()
        receiver.form.discard()
        raise
    return receiver.form
