"""The node host as the server sees it: a child process that holds the node classes.

The server asks it for the node catalog (`/object_info`) and to run VALIDATE_INPUTS; it never runs jobs,
so validation never waits for one. A crash is reported as `NodeHostUnavailable` and the host restarts.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from impasto.config import Settings
from impasto.graph.catalog import CatalogEntryJson
from impasto.graph.validate import NodeCodeError, ValidateCall, ValidateResult
from impasto.workers._entry import run_node_host
from impasto.workers.messages import (
    CatalogRequest,
    CustomRoutes,
    HostReply,
    RoutesRequest,
    ValidateRequest,
    WebDirectoriesRequest,
)
from impasto.workers.messages import send as send_message

log = logging.getLogger(__name__)


class NodeHostUnavailable(Exception):
    """The node host process died or could not answer."""


class NodeDefinitions(Protocol):
    """What the server asks of whatever holds the node classes. Blocking calls: use from a thread."""

    def catalog(self) -> dict[str, CatalogEntryJson]:
        """Every class's catalog entry, computed now (combo lists are live)."""
        ...

    def validate(self, call: ValidateCall) -> Sequence[ValidateResult]:
        """Run a class's VALIDATE_INPUTS; raises NodeCodeError when it raises."""
        ...

    def routes(self) -> CustomRoutes | None:
        """Where the HTTP routes of node packs are served, and which; None when no pack added any."""
        ...

    def web_directories(self) -> dict[str, str]:
        """The frontend extension folder (WEB_DIRECTORY) of each loaded pack that has one, by pack name."""
        ...

    def close(self) -> None: ...


class NodeHost:
    """Blocking request/answer calls to the node-host process (call from a thread, not the event loop)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=run_node_host, args=(child, self._settings), name="impasto-node-host")
        process.daemon = True
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def _call(self, request: object) -> HostReply:
        with self._lock:
            if self._conn is None or self._process is None or not self._process.is_alive():
                self._start_locked()
            assert self._conn is not None
            try:
                send_message(self._conn, request)
                reply: HostReply = self._conn.recv()
            except (EOFError, OSError) as exc:
                log.error("the node host died while answering %s; restarting it", type(request).__name__)
                self._conn.close()
                self._conn = None
                raise NodeHostUnavailable("the node host process died; it is being restarted") from exc
            return reply

    def catalog(self) -> dict[str, CatalogEntryJson]:
        reply = self._call(CatalogRequest())
        if not reply.ok:
            raise NodeHostUnavailable(reply.message)
        entries: dict[str, CatalogEntryJson] = reply.value
        return entries

    def validate(self, call: ValidateCall) -> Sequence[ValidateResult]:
        """The validate hook of `graph.validate_prompt`, answered by the node host."""
        reply = self._call(ValidateRequest(call.class_type, call.node_id, call.kwargs))
        if not reply.ok:
            raise NodeCodeError(reply.message, reply.exception_type, reply.traceback)
        results: list[Any] = reply.value
        return results

    def routes(self) -> CustomRoutes | None:
        reply = self._call(RoutesRequest())
        if not reply.ok:
            raise NodeHostUnavailable(reply.message)
        routes: CustomRoutes | None = reply.value
        return routes

    def web_directories(self) -> dict[str, str]:
        reply = self._call(WebDirectoriesRequest())
        if not reply.ok:
            raise NodeHostUnavailable(reply.message)
        folders: dict[str, str] = reply.value
        return folders

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._process is not None:
                self._process.join(timeout=3)
                if self._process.is_alive():
                    self._process.kill()
                    self._process.join(timeout=3)
                self._process = None
