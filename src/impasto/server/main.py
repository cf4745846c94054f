"""Starting the server: the store, the node host, the workers, then the HTTP listeners."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import time

from aiohttp import web

from impasto.config import Settings
from impasto.queue import JobStore, SqliteJobStore
from impasto.server.app import create_app
from impasto.server.keys import CATALOG
from impasto.server.logbuffer import LogBuffer
from impasto.server.routes.users import startup_queue_state
from impasto.workers.local import LocalProcessExecutor
from impasto.workers.nodehost import NodeHost

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The server refuses to start (for example a remote address without protection)."""


def open_store(settings: Settings) -> JobStore:
    if settings.ephemeral:
        return SqliteJobStore(None, history_max=settings.history_max)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return SqliteJobStore(settings.state_dir / "queue.db", history_max=settings.history_max)


def check_listen(settings: Settings) -> None:
    remote = [a for a in settings.listen if not _is_loopback(a)]
    if remote and settings.auth_token is None and not settings.allow_remote:
        raise StartupError(
            f"refusing to listen on {', '.join(remote)}: the API runs node code on this machine; "
            "pass --allow-remote (or --auth-token TOKEN) to serve other machines"
        )


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def serve(settings: Settings, host: NodeHost) -> None:
    """Run the server until SIGINT or SIGTERM (`host`: its node host, started already or on first use)."""
    check_listen(settings)
    started = time.monotonic()
    logging.getLogger().addHandler(LogBuffer())
    settings.folders.ensure()
    store = open_store(settings)
    recovered = await asyncio.to_thread(
        store.recover_orphans, requeue=settings.requeue_interrupted, now_ms=int(time.time() * 1000)
    )
    startup = startup_queue_state(settings)  # the user's setting (frontend.md §12), else the flag
    if startup != "last":
        await asyncio.to_thread(store.set_paused, startup == "paused")
    for job in recovered:
        log.warning("job %s was running when the server stopped: recorded as %s", job.id, job.state.value)
    executor = LocalProcessExecutor(
        settings,
        settings.workers,
        heartbeat_timeout=settings.worker_heartbeat_timeout,
        recycle_jobs=settings.worker_recycle_jobs,
        recycle_rss_mb=settings.worker_recycle_rss_mb,
    )
    app = create_app(settings, store, executor, host)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        for address in settings.listen:
            await web.TCPSite(runner, address, settings.port).start()
        log.info(
            "impasto listening on %s (in %.2f s)",
            ", ".join(f"http://{_url_host(a)}:{settings.port}" for a in settings.listen),
            time.monotonic() - started,
        )
        if settings.quick_test_for_ci:
            await app[CATALOG].refresh()  # node definitions load, then exit
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        store.close()


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
