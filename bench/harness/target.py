"""A server to measure: one already running at a URL, or one the harness starts from a command.

With `--cmd`, every round starts the server afresh on a free port (`{port}` in the command), times start →
first 200 of GET /object_info, and stops it (SIGTERM to its process group, SIGKILL after a grace) when the
round is over, so start-up gets one sample per round. `{dir}` in the command becomes a new empty directory
for each start, removed after the stop: a server that keeps its queue and history on disk (impasto's
`--data-dir {dir}`) then starts every round as empty as one that keeps them in memory (ComfyUI).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from bench.harness import memory
from bench.harness.client import Api, BenchError, ServerGone

PORT_PLACEHOLDER = "{port}"
DIR_PLACEHOLDER = "{dir}"
STOP_GRACE_S = 30.0
POLL_S = 0.01


class StartError(Exception):
    """The command did not bring up a server; the message says what it printed."""


@dataclass(frozen=True, slots=True)
class TargetSpec:
    label: str  # "A", "B"
    url: str | None = None
    cmd: str | None = None

    @property
    def shown(self) -> str:
        return self.url if self.url is not None else f"--cmd {self.cmd}"

    @staticmethod
    def parse(label: str, text: str) -> TargetSpec:
        """`--vs` takes either: a URL (http:// or https://) or a command."""
        if text.startswith(("http://", "https://")):
            return TargetSpec(label, url=text.rstrip("/"))
        return TargetSpec(label, cmd=text)


class Target:
    """One server under measurement, across rounds."""

    def __init__(self, spec: TargetSpec, start_timeout: float) -> None:
        self.spec = spec
        self.start_timeout = start_timeout
        self.url = spec.url or ""
        self.gone: str | None = None  # why it stopped answering, once it did
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None  # what the command prints, for the message when it fails
        self._dir: Path | None = None  # this start's {dir}

    @property
    def label(self) -> str:
        return self.spec.label

    async def start(self, session: aiohttp.ClientSession) -> float | None:
        """Seconds from starting the command to the first 200 of /object_info; None for a running server."""
        if self.spec.cmd is None:
            await self.check(session)
            return None
        port = _free_port()
        command = self.spec.cmd.replace(PORT_PLACEHOLDER, str(port))
        if DIR_PLACEHOLDER in command:
            self._dir = Path(tempfile.mkdtemp(prefix=f"bench-{self.label}-"))
            command = command.replace(DIR_PLACEHOLDER, str(self._dir))
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1"}
        if self._log is None:
            descriptor, name = tempfile.mkstemp(prefix=f"bench-{self.label}-", suffix=".log")
            os.close(descriptor)
            self._log = Path(name)
        with self._log.open("ab") as log:
            started = time.perf_counter()
            # A new session, so stopping reaches every process the command started (a shell, a launcher).
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", command], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = started + self.start_timeout
        api = Api(self.url, session)
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise StartError(f"the command exited with {self.process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(ServerGone):
                answer = await api.request("GET", "/object_info", timeout=max(1.0, deadline - time.perf_counter()))
                if answer.status == 200:
                    return time.perf_counter() - started
            await asyncio.sleep(POLL_S)
        await self.stop()
        raise StartError(f"no 200 from /object_info within {self.start_timeout:.0f} s:\n{self.log_tail()}")

    async def check(self, session: aiohttp.ClientSession) -> None:
        """Raises ServerGone or BenchError unless GET /object_info answers 200."""
        answer = await Api(self.url, session).request("GET", "/object_info", timeout=30.0)
        if answer.status != 200:
            raise BenchError(f"GET {self.url}/object_info answered {answer.status}: is it a ComfyUI-API server?")

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await asyncio.to_thread(process.wait)
        if self._dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._dir, True)
            self._dir = None

    def exited(self) -> str | None:
        """Why a server the harness started is no longer running, or None."""
        if self.process is not None and self.process.poll() is not None:
            return f"the server process exited with {self.process.returncode}"
        return None

    def pid(self) -> int | None:
        """The local process serving the URL, when /proc shows it; None for a remote server."""
        parts = urlsplit(self.url)
        if parts.hostname not in ("127.0.0.1", "localhost", "::1") or not memory.available():
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return memory.listening_pid(port)

    def log_tail(self, lines: int = 20) -> str:
        if self._log is None:
            return ""
        try:
            text = self._log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def remove_log(self) -> None:
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.unlink()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
