"""HTTP/1.1 over a plain socket, for what an HTTP client library hides: a Content-Length that
no body follows, a chunked body that stops half-way, a reader that never reads."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from servers import AppServer

MB = 1024 * 1024
READ_TIMEOUT = 20.0  # a test waiting longer than this for an answer fails
CLOSE_TIMEOUT = 5.0  # a connection still open this long after a response is kept alive


def connect(server: AppServer, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:  # before connect, so the TCP window stays small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(READ_TIMEOUT)
    sock.connect(("127.0.0.1", server.port))
    return sock


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    closed: bool = False  # the server ended the connection after the response

    def json(self) -> Any:
        return json.loads(self.body)


def read_head(sock: socket.socket) -> tuple[RawResponse, bytes]:
    """The status line and headers; the body bytes that came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += piece
    raw_head, rest = data.split(b"\r\n\r\n", 1)
    status_line, *lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers), rest


def read_response(sock: socket.socket) -> RawResponse:
    """A whole response with a Content-Length, then whether the server closed the connection."""
    response, body = read_head(sock)
    length = int(response.headers["content-length"])
    while len(body) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    response.body = body
    sock.settimeout(CLOSE_TIMEOUT)
    try:
        response.closed = sock.recv(1) == b""
    except ConnectionResetError:
        response.closed = True
    except TimeoutError:
        response.closed = False
    sock.settimeout(READ_TIMEOUT)
    return response


@dataclass
class Pusher:
    """Sends `chunks` from a thread until they run out or the server stops taking them."""

    sock: socket.socket
    chunks: Iterator[bytes]
    sent: int = 0
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for piece in self.chunks:
                self.sock.sendall(piece)
                self.sent += len(piece)
        except OSError:
            pass  # refused: the server closed the connection

    def join(self) -> None:
        self.thread.join(timeout=READ_TIMEOUT)
        assert not self.thread.is_alive(), f"still sending after {self.sent} bytes"


def peak_rss(server: AppServer) -> int:
    """The app server process's peak resident memory so far (VmHWM), in bytes."""
    assert server.process.proc is not None
    with open(f"/proc/{server.process.proc.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")
