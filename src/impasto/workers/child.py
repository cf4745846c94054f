"""The worker side of a job: the node registry, the engine, and running a prompt with them.

This is the only module of `workers` that imports node code.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from multiprocessing.connection import Connection
from typing import Any

from impasto.config import Settings
from impasto.engine.cancel import CancelToken, Interrupted
from impasto.engine.events import Event, EventSink, PreviewEvent, discard
from impasto.engine.registry import NodeRegistry
from impasto.engine.runner import Engine, RunRequest, RunResult
from impasto.engine.validation import local_validate_hook, validate_locally
from impasto.graph.validate import NodeCodeError, ValidateCall, ValidationResult
from impasto.protocol.devices import cpu_device
from impasto.workers.messages import (
    CancelAnswer,
    CancelJob,
    CatalogRequest,
    ClientMessage,
    CustomRoutes,
    FreeMemory,
    Heartbeat,
    HostReply,
    JobEvent,
    JobFinished,
    JobPreview,
    JobSpec,
    RoutesRequest,
    RunJob,
    Stop,
    ValidateRequest,
    WebDirectoriesRequest,
    WorkerReady,
)
from impasto.workers.messages import send as send_message
from impasto.workers.outbox import Outbox

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 1.0  # seconds
# How often the worker sends the events of a running job that it holds (workers/outbox.py).
EVENT_TICK = 0.05  # seconds: a long node is shown running this late at most


def core_registry() -> NodeRegistry:
    """A registry holding impasto's built-in nodes."""
    from impasto import nodes

    registry = NodeRegistry()
    registry.register_mappings(nodes.NODE_CLASS_MAPPINGS, nodes.NODE_DISPLAY_NAME_MAPPINGS, source="impasto.nodes")
    return registry


def configure_nodes(settings: Settings) -> None:
    """Point the built-in nodes at this process's folders."""
    from impasto.nodes import settings as node_settings

    settings.folders.ensure()
    node_settings.configure(node_settings.NodeSettings(settings.folders, settings.disable_metadata))


def node_registry(settings: Settings) -> NodeRegistry:
    """The built-in nodes plus the custom-node packs of the configured folders."""
    return _load_nodes(settings)[0]


def _load_nodes(settings: Settings) -> tuple[NodeRegistry, dict[str, str]]:
    """The node registry, and the WEB_DIRECTORY folder of each loaded pack that has one, by pack name."""
    from impasto.compat import runtime
    from impasto.compat.loader import load_custom_nodes

    runtime.configure(runtime.CompatSettings(cpu=settings.cpu, preview_size=settings.preview_size))
    registry = core_registry()
    packs = load_custom_nodes(
        settings.folders.custom_nodes,
        registry,
        disable_all=settings.disable_all_custom_nodes,
        whitelist=settings.whitelist_custom_nodes,
    )
    web = {pack.name: str(pack.web_directory) for pack in packs if pack.error is None and pack.web_directory}
    return registry, web


class EmbeddedRunner:
    """Validates and runs prompts in this process (the headless `impasto` command, tests, benchmarks)."""

    def __init__(self, settings: Settings, registry: NodeRegistry | None = None) -> None:
        configure_nodes(settings)
        self.registry = registry or node_registry(settings)
        self.engine = Engine(self.registry, settings.cache)

    def validate(self, prompt: object) -> ValidationResult:
        return validate_locally(prompt, self.registry)

    def run(
        self,
        validation: ValidationResult,
        extra_data: Mapping[str, Any] | None = None,
        sink: EventSink = discard,
        prompt_id: str | None = None,
    ) -> RunResult:
        request = RunRequest(
            prompt_id=prompt_id or str(uuid.uuid4()),
            prompt=validation.prompt,
            outputs=validation.outputs,
            extra_data=dict(extra_data or {}),
        )
        token = CancelToken()
        with interrupt_torch_modules(token):
            return self.engine.run_sync(request, sink, token)


@contextlib.contextmanager
def interrupt_torch_modules(token: CancelToken) -> Iterator[None]:
    """While a job runs, every torch module call is an interrupt point (a global forward pre-hook).

    The check is one attribute read, so a torch-heavy node stops at its next module call, not at its end.
    """
    try:
        import torch
    except ImportError:
        yield
        return

    def check(_module: object, _args: object) -> None:
        if token.requested:
            raise Interrupted("Processing interrupted")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


def resident_bytes() -> int:
    """This process's resident memory (Linux /proc); 0 where it cannot be read. Read after every job: one
    pread of a descriptor kept open, not an open, two reads and a close."""
    global _statm
    try:
        if _statm is None:
            _statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        return int(os.pread(_statm, 256, 0).split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 0


_statm: int | None = None
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def die_with_parent() -> None:
    """Make this process go when its parent does (Linux PR_SET_PDEATHSIG, plus a polling fallback)."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="impasto-parent-watch", daemon=True).start()


def worker_main(conn: Connection, settings: Settings, worker_id: str) -> None:
    """A worker process: runs one job at a time; a control thread takes cancels while a job runs."""
    die_with_parent()
    logging.basicConfig(level=settings.verbose, format=f"%(levelname)s worker {worker_id} %(name)s: %(message)s")
    runner = EmbeddedRunner(settings)
    with contextlib.suppress(ImportError):
        import torch  # noqa: F401  node modules bind torch lazily (nodes/_lazy.py); no job waits for it
    send_lock = threading.Lock()

    def send(message: object) -> None:
        with send_lock:
            send_message(conn, message)

    # A job's events, previews and node code's client messages, in order, batched (workers/outbox.py).
    outbox = Outbox(send)
    _relay_client_messages(outbox.put)
    jobs: queue.Queue[JobSpec | FreeMemory | None] = queue.Queue()  # in order: a /free waits for the running job
    state = _WorkerState()

    def control() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                jobs.put(None)
                return
            if isinstance(message, RunJob):
                jobs.put(message.job)
            elif isinstance(message, CancelJob):
                send(CancelAnswer(message.job_id, state.cancel(message.job_id)))
            elif isinstance(message, FreeMemory):
                jobs.put(message)
            elif isinstance(message, Stop):
                jobs.put(None)
                return

    threading.Thread(target=control, name="impasto-worker-control", daemon=True).start()

    def ticker() -> None:
        # A thread of its own: it keeps beating while a job runs Python code, and stops when the process is
        # stuck in native code that holds the interpreter lock. Each tick sends the events the job holds.
        beat = time.monotonic()
        while True:
            time.sleep(EVENT_TICK)
            try:
                outbox.flush()
                if time.monotonic() - beat >= HEARTBEAT_INTERVAL:
                    beat = time.monotonic()
                    send(Heartbeat(worker_id))
            except OSError:
                return

    threading.Thread(target=ticker, name="impasto-worker-ticker", daemon=True).start()
    # One event loop for every job: starting a loop per job costs more than a tiny job. Not asyncio.Runner:
    # its run() installs and restores a SIGINT handler each time, which costs more than a cached job.
    loop = asyncio.new_event_loop()
    send(WorkerReady(worker_id, [cpu_device()]))
    while True:
        spec = jobs.get()
        if spec is None:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            outbox.flush()
            return
        if isinstance(spec, FreeMemory):
            _free(runner, spec)
            continue
        token = state.begin(spec.job_id)
        if token.requested:
            # Cancelled between its claim and its start: treated like a removed pending job (no run events).
            state.end()
            send(JobFinished(spec.job_id, "removed", {}, {}, []))
            continue

        def sink(event: Event | PreviewEvent, job_id: str = spec.job_id) -> None:
            if isinstance(event, Event):
                outbox.put(JobEvent(job_id, event.type.value, dict(event.data)))
            else:
                outbox.put(JobPreview(job_id, event.node_id, event.image_format, event.image))

        request = RunRequest(spec.job_id, spec.prompt, spec.outputs, spec.extra(), spec.sensitive)
        try:
            with interrupt_torch_modules(token):
                result = loop.run_until_complete(runner.engine.run(request, sink, token))
            finished = JobFinished(
                spec.job_id,
                result.status.value,
                result.outputs,
                result.meta,
                [[name, data] for name, data in result.messages],
            )
        except BaseException as exc:  # the job boundary: report, keep the worker alive
            log.exception("job %s failed outside node code", spec.job_id)
            finished = JobFinished(spec.job_id, "error", {}, {}, [["execution_error", {"exception_message": str(exc)}]])
        state.end()
        outbox.flush(replace(finished, rss_bytes=resident_bytes()))


def _free(runner: EmbeddedRunner, free: FreeMemory) -> None:
    """`POST /free`: drop cached outputs and node instances, and the loaded model files."""
    if free.free_memory:
        runner.engine.free_memory()
    if free.unload_models:
        from impasto.nodes.sd.loaders import free_models

        free_models()


def _relay_client_messages(send: Callable[[object], None]) -> None:
    """`PromptServer.instance.send_sync` in node code: each message goes to the server, which delivers it."""
    from impasto.compat import runtime

    def relay(event: str | int, data: Any, sid: str | None, job_id: str | None) -> None:
        binary = isinstance(event, int) and isinstance(data, bytes | bytearray)
        try:
            if not binary:
                json.dumps(data)
        except (TypeError, ValueError) as exc:
            log.warning("send_sync(%r) from node code: the data is not JSON and is not sent: %s", event, exc)
            return
        send(ClientMessage(event, bytes(data) if binary else data, sid, job_id))

    runtime.set_client_relay(relay)


class _WorkerState:
    """The job running now, the jobs that ended lately, and cancels for jobs not started yet (never lost)."""

    ENDED_REMEMBERED = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._job_id: str | None = None
        self._token: CancelToken | None = None
        self._early: set[str] = set()
        self._ended: dict[str, bool] = {}  # job id -> whether it ended cancelled; oldest first

    def begin(self, job_id: str) -> CancelToken:
        token = CancelToken()
        with self._lock:
            self._job_id, self._token = job_id, token
            if job_id in self._early:
                self._early.discard(job_id)
                token.cancel()
        return token

    def end(self) -> None:
        with self._lock:
            if self._job_id is not None and self._token is not None:
                self._ended[self._job_id] = self._token.seal()
                if len(self._ended) > self.ENDED_REMEMBERED:
                    del self._ended[next(iter(self._ended))]
            self._job_id, self._token = None, None

    def cancel(self, job_id: str) -> bool:
        """Whether the job ends cancelled: False when it ended, or decided its end, without this cancel."""
        with self._lock:
            if self._job_id == job_id and self._token is not None:
                return self._token.cancel()
            if job_id in self._ended:
                return self._ended[job_id]
            self._early.add(job_id)  # not started yet
            return True


def _serve_pack_routes(settings: Settings) -> CustomRoutes | None:
    """Serve the HTTP routes packs added to `PromptServer.instance.routes` (only packs that imported `server`)."""
    shim = sys.modules.get("impasto.compat.shims.server")
    if shim is None:
        return None
    from impasto.compat.route_server import serve_pack_routes

    try:
        served = serve_pack_routes(shim.PromptServer.instance, settings.max_upload_bytes)
    except RuntimeError:
        log.exception("custom-node routes are not served")
        return None
    return None if served is None else CustomRoutes(served.socket_path, served.routes)


def nodehost_main(conn: Connection, settings: Settings) -> None:
    """The node host: node-class code outside jobs (definitions for /object_info, VALIDATE_INPUTS)."""
    die_with_parent()
    logging.basicConfig(level=settings.verbose, format="%(levelname)s node-host %(name)s: %(message)s")
    configure_nodes(settings)
    registry, web_directories = _load_nodes(settings)
    hook = local_validate_hook(registry)
    routes = _serve_pack_routes(settings)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if isinstance(request, CatalogRequest):
                reply = HostReply(True, registry.catalog_entries())
            elif isinstance(request, RoutesRequest):
                reply = HostReply(True, routes)
            elif isinstance(request, WebDirectoriesRequest):
                reply = HostReply(True, web_directories)
            elif isinstance(request, ValidateRequest):
                reply = HostReply(True, list(hook(ValidateCall(request.class_type, request.node_id, request.kwargs))))
            else:
                reply = HostReply(False, message=f"unknown request {type(request).__name__}")
        except NodeCodeError as exc:
            reply = HostReply(False, None, exc.exception_type, str(exc), exc.traceback_lines)
        except Exception as exc:
            reply = HostReply(False, None, type(exc).__name__, str(exc))
        send_message(conn, reply)
