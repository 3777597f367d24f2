"""WebSocket by hand over a TCP stream, for tests that need what no client library sends:
chosen extension offers, compressed frames, abandoned handshakes.

Frames are masked with a zero key (any key is valid, and zero leaves the payload as is).
"""

from __future__ import annotations

import struct
from typing import Final

import attrs
import trio

TIMEOUT: Final = 10.0
OP_TEXT: Final = 0x1
OP_CLOSE: Final = 0x8


@attrs.frozen
class Handshake:
    status: int
    headers: dict[str, str]
    """Response headers, names lower-cased."""
    rest: bytes
    """Bytes received after the headers (the start of the first frames)."""


def upgrade_request(host: str, port: int, extra: dict[str, str] | None = None) -> bytes:
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in (extra or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def handshake(
    stream: trio.SocketStream, host: str, port: int, extra: dict[str, str] | None = None
) -> Handshake:
    """Send the upgrade request and read the response headers."""
    await stream.send_all(upgrade_request(host, port, extra))
    response = b""
    with trio.fail_after(TIMEOUT):
        while b"\r\n\r\n" not in response:
            chunk = await stream.receive_some(4096)
            assert chunk, f"the server closed during the handshake: {response!r}"
            response += chunk
    head, _, rest = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Handshake(int(status_line.split(" ", 2)[1]), headers, rest)


def frame(opcode: int, payload: bytes, *, rsv1: bool = False, fin: bool = True) -> bytes:
    """One client frame (masked with a zero key)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, length)
    return header + b"\x00\x00\x00\x00" + payload


def close_frame(code: int) -> bytes:
    return frame(OP_CLOSE, struct.pack("!H", code))


async def read_until_eof(stream: trio.SocketStream, already: bytes = b"") -> bytes:
    """Everything the server sends until it closes the connection (bounded in time)."""
    received = bytearray(already)
    with trio.fail_after(TIMEOUT):
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:  # reset after the server closed: same end
                break
            if not chunk:
                break
            received += chunk
    return bytes(received)


def server_frames(data: bytes | bytearray) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each complete unmasked server frame in ``data``."""
    frames = []
    offset = 0
    while offset + 2 <= len(data):
        opcode = data[offset] & 0x0F
        length = data[offset + 1] & 0x7F
        offset += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, offset)
            offset += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, offset)
            offset += 8
        if offset + length > len(data):
            break
        frames.append((opcode, bytes(data[offset : offset + length])))
        offset += length
    return frames


def close_code(data: bytes | bytearray) -> int | None:
    """The code of the close frame among the server's frames in ``data``, if any."""
    for opcode, payload in server_frames(data):
        if opcode == OP_CLOSE:
            return int(struct.unpack_from("!H", payload)[0]) if len(payload) >= 2 else 1005
    return None
