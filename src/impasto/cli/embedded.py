"""The server `impasto run` starts for itself when no `--server` is given: the usual app, node host and one
worker, with an in-memory queue, served on a unix socket in a private temporary folder.

A unix socket opens no port at all, so nothing else on the machine can reach the embedded server, and
nothing is left listening after the run: the socket and its folder are removed when the run ends.

Ctrl+C belongs to the command, not to its worker: the terminal sends SIGINT to the whole foreground process
group, and a worker that took it would die mid-job instead of stopping cooperatively. The node host and the
worker are therefore started while SIGINT is ignored, which they inherit (Python keeps an ignored SIGINT).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import TracebackType

from aiohttp import web

from impasto.cli.flags import build_parser, settings_from_args
from impasto.cli.output import CommandError
from impasto.config import Settings
from impasto.paths_yaml import ExtraPathsError
from impasto.queue import SqliteJobStore
from impasto.server.app import create_app
from impasto.server.keys import CATALOG
from impasto.workers.local import LocalProcessExecutor
from impasto.workers.nodehost import NodeHost

CHILDREN = 2  # the node host and the worker
STARTUP_TIMEOUT = 120.0  # seconds for the node definitions to load


def run_settings(args: argparse.Namespace) -> Settings:
    """The server flags `impasto run` passes on, as Settings: one worker, nothing persisted, quiet logs."""
    argv = ["--ephemeral", "--workers", "1", "--verbose", "WARNING"]
    for flag in ("base_directory", "output_directory", "input_directory", "user_directory"):
        value = getattr(args, flag)
        if value is not None:
            argv += [f"--{flag.replace('_', '-')}", str(value)]
    for config in args.extra_model_paths_config:
        argv += ["--extra-model-paths-config", str(config)]
    if args.disable_all_custom_nodes:
        argv.append("--disable-all-custom-nodes")
    if args.cpu:
        argv.append("--cpu")
    try:
        return settings_from_args(build_parser().parse_args(argv))
    except ExtraPathsError as exc:
        raise CommandError(str(exc)) from None


class EmbeddedServer:
    """`async with EmbeddedServer(settings) as server:` serves on `server.socket_path` until the block ends."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._folder = Path(tempfile.mkdtemp(prefix="impasto-run-"))
        self.socket_path = self._folder / "api.sock"
        self._runner: web.AppRunner | None = None
        self._store: SqliteJobStore | None = None

    async def __aenter__(self) -> EmbeddedServer:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _start(self) -> None:
        settings = self.settings
        try:
            settings.folders.ensure()
        except OSError as exc:
            raise CommandError(f"cannot create the run's folders: {exc}") from None
        self._store = SqliteJobStore(None, history_max=settings.history_max)
        host = NodeHost(settings)
        executor = LocalProcessExecutor(settings, 1, heartbeat_timeout=settings.worker_heartbeat_timeout)
        app = create_app(settings, self._store, executor, host)
        before = len(multiprocessing.active_children())
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            host.start()
            self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._runner.setup()  # schedules the worker's start
            await _children_started(before)
        finally:
            signal.signal(signal.SIGINT, previous)
        await web.UnixSite(self._runner, str(self.socket_path)).start()
        try:
            async with asyncio.timeout(STARTUP_TIMEOUT):
                await app[CATALOG].ready.wait()
        except TimeoutError:
            raise CommandError(f"the node definitions did not load in {STARTUP_TIMEOUT:.0f} s") from None

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # closes the socket, the worker and the node host
            self._runner = None
        if self._store is not None:
            self._store.close()
            self._store = None
        shutil.rmtree(self._folder, ignore_errors=True)


async def _children_started(before: int, timeout: float = 10.0) -> None:
    """Until the node host and the worker processes exist (they inherit the ignored SIGINT at spawn)."""
    deadline = time.monotonic() + timeout
    while len(multiprocessing.active_children()) < before + CHILDREN and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
