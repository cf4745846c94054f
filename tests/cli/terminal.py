"""The `impasto` command in a pseudo-terminal, as a user runs it: Ctrl+C is a byte typed at the terminal, which
sends SIGINT to the terminal's whole foreground process group (the command and every child it started)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time

ROWS, COLUMNS = 48, 160  # a terminal window of a usual size
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    def __init__(self, *argv: str, cwd: str | None = None) -> None:
        env = {**os.environ, "TERM": "xterm", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        env.pop("COLUMNS", None)
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal and it is in the foreground
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
                if cwd is not None:
                    os.chdir(cwd)
                os.execve(sys.executable, [sys.executable, "-m", "impasto", *argv], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.code: int | None = None

    def text(self) -> str:
        return ANSI.sub(b"", self.output).decode("utf-8", "replace")

    def read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.output += os.read(self.fd, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(timeout)

    def expect(self, pattern: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while pattern not in self.text():
            if time.monotonic() > deadline or self.exited():
                raise AssertionError(f"{pattern!r} not shown; the terminal shows:\n{self.text()[-3000:]}")
            self.read(0.1)

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def exited(self) -> bool:
        if self.code is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.code = os.waitstatus_to_exitcode(status)
        return self.code is not None

    def wait(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while not self.exited():
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"the command did not exit; the terminal shows:\n{self.text()[-3000:]}")
            self.read(0.05)
        for _ in range(20):  # what is still buffered in the terminal
            self.read(0.01)
        assert self.code is not None
        return self.code

    def kill(self) -> None:
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)

    def close(self) -> None:
        self.kill()
        os.close(self.fd)
