"""Reading a child's pipe on the event loop: whole messages only, cut anywhere, never blocking."""

from __future__ import annotations

import multiprocessing
import struct
import threading

from impasto.workers.pipe_reader import FrameBuffer, PipeReader


def framed(payload: bytes) -> bytes:
    return struct.pack("!i", len(payload)) + payload


def test_messages_cut_at_every_byte_come_out_whole_and_in_order():
    payloads = [b"", b"a", b"hello" * 1000, bytes(range(256))]
    stream = b"".join(framed(p) for p in payloads)
    for size in (1, 3, 7, len(stream)):
        buffer, out = FrameBuffer(), []
        for start in range(0, len(stream), size):
            out.extend(buffer.feed(stream[start : start + size]))
        assert out == payloads and not buffer.partial


def test_the_long_length_header_is_read():
    payload = b"x" * 10
    long_form = struct.pack("!i", -1) + struct.pack("!Q", len(payload)) + payload
    buffer = FrameBuffer()
    assert buffer.feed(long_form[:6]) == [] and buffer.partial
    assert buffer.feed(long_form[6:]) == [payload]


def test_a_pipe_is_read_without_waiting_until_its_other_end_closes():
    ours, theirs = multiprocessing.Pipe()
    reader = PipeReader(ours.fileno())
    try:
        assert reader.read() == ([], False)  # nothing there: no wait
        theirs.send_bytes(b"one")
        theirs.send_bytes(b"two")
        assert reader.read() == ([b"one", b"two"], False)
        big = bytes(5_000_000)  # more than the socket holds: the writer blocks until it is read
        writer = threading.Thread(target=theirs.send_bytes, args=(big,))
        writer.start()
        got: list[bytes] = []
        while not got:
            frames, closed = reader.read()
            got.extend(frames)
            assert not closed
        writer.join()
        assert got == [big]
        ours.send_bytes(b"to the child")  # the pipe's own end still sends, blocking as before
        assert theirs.recv_bytes() == b"to the child"
        theirs.close()
        assert reader.read() == ([], True)
    finally:
        reader.close()
        ours.close()
