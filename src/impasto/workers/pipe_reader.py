"""`PipeReader`: a child's messages read on the event loop, never blocking it.

A reader thread per child costs a thread wake-up, an interpreter-lock hand-over and a loop wake-up per
message, and while the loop is busy (a burst of submissions) the thread waits for the lock, so a worker's
end report, and the next job it is given, wait with it. Reading on the loop instead takes what the socket
holds without waiting (MSG_DONTWAIT, so the descriptor stays blocking for the server's own sends) and
decodes the whole messages in it: a message cut in two is completed by a later read, and a child stopped
half-way through a message blocks nothing.

Framing is `multiprocessing.connection.Connection`'s: a signed 4-byte big-endian length, or -1 followed by
an unsigned 8-byte length, then the payload (the child sends with `Connection.send_bytes`).
"""

from __future__ import annotations

import os
import socket
import struct

READ_SIZE = 256 * 1024


class FrameBuffer:
    """Bytes in, whole payloads out."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, data: bytes | memoryview) -> list[bytes]:
        self._data += data
        frames: list[bytes] = []
        view, start = self._data, 0
        while True:
            if len(view) - start < 4:
                break
            (size,) = struct.unpack_from("!i", view, start)
            header = 4
            if size == -1:
                if len(view) - start < 12:
                    break
                (size,) = struct.unpack_from("!Q", view, start + 4)
                header = 12
            if len(view) - start - header < size:
                break
            frames.append(bytes(view[start + header : start + header + size]))
            start += header + size
        if start:
            del self._data[:start]
        return frames

    @property
    def partial(self) -> bool:
        """Whether part of a message is waiting for the rest."""
        return bool(self._data)


class PipeReader:
    """Reads one end of a `multiprocessing.Pipe()` (a Unix socket pair) without blocking."""

    def __init__(self, fd: int) -> None:
        self._sock = socket.socket(fileno=os.dup(fd))  # its own descriptor: closing it leaves the pipe's alone
        self._frames = FrameBuffer()
        # One buffer for every read: `recv(n)` would allocate (and for this size map and unmap) n bytes each time.
        self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)
        self.fileno = self._sock.fileno()

    def read(self) -> tuple[list[bytes], bool]:
        """The whole messages that have arrived, and whether the other end closed (EOF)."""
        frames: list[bytes] = []
        while True:
            try:
                size = self._sock.recv_into(self._view, READ_SIZE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return frames, False
            except OSError:
                return frames, True
            if not size:
                return frames, True
            frames.extend(self._frames.feed(self._view[:size]))
            if size < READ_SIZE:
                return frames, False

    def close(self) -> None:
        self._sock.close()
