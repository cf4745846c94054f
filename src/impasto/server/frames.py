"""WebSocket data frames as a server writes them (RFC 6455 §5.2: final, unmasked, never compressed).

Writing several queued messages as one buffer costs one send and one wake-up of the client instead of one
per message; the sockets are opened without permessage-deflate, so a frame is header plus payload.
"""

from __future__ import annotations

import struct

TEXT = 0x1
BINARY = 0x2
_FINAL = 0x80


def frame(payload: str | bytes) -> bytes:
    """One complete frame: text for `str`, binary for `bytes`."""
    if isinstance(payload, str):
        data, opcode = payload.encode("utf-8"), TEXT
    else:
        data, opcode = payload, BINARY
    length = len(data)
    if length < 126:
        header = struct.pack("!BB", _FINAL | opcode, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", _FINAL | opcode, 126, length)
    else:
        header = struct.pack("!BBQ", _FINAL | opcode, 127, length)
    return header + data
