"""`impasto watch`: a live view of a server's queue and of every running job, until Ctrl+C.

It is an observer socket (websocket.md §6): it gets every job's run events, whoever queued the job, and
re-reads `GET /api/impasto/queue` when a `status` message says the queue changed. On a terminal the view
redraws in place; with `--json`, or when stdout is not a terminal, it writes one line per change instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from impasto.cli.client import Server, server_url
from impasto.cli.output import OK, CommandError, out_console
from impasto.cli.queue import ago
from impasto.protocol.events import EventType

REDRAW_INTERVAL = 0.25  # seconds: at most four redraws (or JSON lines) a second


@dataclass
class _Running:
    node: str | None = None
    step: tuple[float, float] | None = None
    cached: int = 0


@dataclass
class _View:
    queue: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, _Running] = field(default_factory=dict)
    changed: bool = True

    def apply(self, kind: str, data: dict[str, Any]) -> bool:
        """Fold a run event in; True when the queue itself should be read again."""
        if kind == EventType.STATUS:
            return True
        prompt_id = data.get("prompt_id")
        if not isinstance(prompt_id, str):
            return False
        job = self.jobs.setdefault(prompt_id, _Running())
        if kind == EventType.EXECUTION_CACHED:
            job.cached = len(data.get("nodes") or [])
        elif kind == EventType.EXECUTING:
            job.node = None if data.get("node") is None else str(data.get("node"))
            job.step = None
        elif kind == EventType.PROGRESS:
            job.step = (float(data.get("value", 0)), float(data.get("max", 0) or 0))
        elif kind in (EventType.EXECUTION_SUCCESS, EventType.EXECUTION_ERROR, EventType.EXECUTION_INTERRUPTED):
            self.jobs.pop(prompt_id, None)
        self.changed = True
        return False

    def running(self) -> list[dict[str, Any]]:
        rows = []
        for entry in self.queue.get("running", []):
            job = self.jobs.get(entry["id"], _Running())
            node = job.node or entry.get("node")
            titles = entry.get("node_titles") or {}
            rows.append(
                {
                    "id": entry["id"],
                    "worker": entry.get("worker"),
                    "node": node,
                    "title": titles.get(node, node) if node else None,
                    "progress": None if job.step is None else {"value": job.step[0], "max": job.step[1]},
                    "cached": job.cached,
                    "start_time": entry.get("start_time"),
                    "cancel_requested": entry.get("cancel_requested", False),
                }
            )
        return rows

    def snapshot(self) -> dict[str, Any]:
        return {
            "seq": self.queue.get("seq"),
            "paused": self.queue.get("paused"),
            "counts": self.queue.get("counts", {}),
            "running": self.running(),
            "pending": [entry["id"] for entry in self.queue.get("pending", [])],
            "pending_total": self.queue.get("pending_total", 0),
        }

    def render(self) -> Group:
        queue = self.queue
        state = "[yellow]paused[/]" if queue.get("paused") else "[green]running[/]"
        counts = queue.get("counts", {})
        head = Text.from_markup(
            f"queue {state}  ·  {queue.get('pending_total', 0)} pending  ·  {counts.get('completed', 0)} completed"
            f"  ·  {counts.get('failed', 0)} failed  ·  {counts.get('cancelled', 0)} cancelled  [dim](Ctrl+C leaves)[/]"
        )
        running = Table(title="running", title_justify="left", expand=False)
        for name in ("id", "worker", "node", "steps", "cached", "running for"):
            running.add_column(name, no_wrap=True, min_width=36 if name == "id" else None)
        for row in self.running():
            step = row["progress"]
            steps = f"{step['value']:g}/{step['max']:g}" if step else ""
            node = f"{escape(str(row['title']))} (#{row['node']})" if row["node"] else "[dim]starting[/]"
            if row["cancel_requested"]:
                node += " [yellow]stopping[/]"
            running.add_row(
                row["id"], str(row["worker"] or ""), node, steps, str(row["cached"]), ago(row["start_time"])
            )
        pending = Table(title="pending", title_justify="left", expand=False)
        for name in ("#", "id", "queued"):
            pending.add_column(name, no_wrap=True, min_width=36 if name == "id" else None)
        for entry in queue.get("pending", []):
            pending.add_row(str(entry["position"]), entry["id"], ago(entry.get("create_time")))
        return Group(head, running, pending)


async def command(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise CommandError("--limit must not be negative")
    async with Server(server_url(args.server)) as server:
        view = _View(await _queue(server, args.limit))
        ws = await server.websocket(uuid.uuid4().hex, observer=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        console = out_console()
        lines = args.json or not console.is_terminal
        live = None if lines else Live(view.render(), console=console, auto_refresh=False)
        try:
            with live or contextlib.nullcontext():
                await _watch(server, ws, view, args.limit, stop, live)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            await ws.close()
    return OK


async def _watch(
    server: Server, ws: aiohttp.ClientWebSocketResponse, view: _View, limit: int, stop: asyncio.Event, live: Live | None
) -> None:
    stopped = asyncio.create_task(stop.wait())
    refresh = False
    drawn = 0.0
    try:
        while not stop.is_set():
            receive = asyncio.create_task(ws.receive())
            done, _ = await asyncio.wait({receive, stopped}, timeout=REDRAW_INTERVAL, return_when="FIRST_COMPLETED")
            if receive not in done:
                receive.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receive
            else:
                message = receive.result()
                if message.type is aiohttp.WSMsgType.TEXT:
                    refresh |= _fold(view, message.data)
                elif message.type is not aiohttp.WSMsgType.BINARY:
                    raise CommandError(f"the server at {server.where} closed the WebSocket")
            if time.monotonic() - drawn < REDRAW_INTERVAL:
                continue
            if refresh:
                view.queue, view.changed, refresh = await _queue(server, limit), True, False
            if view.changed:
                _draw(view, live)
                view.changed, drawn = False, time.monotonic()
    finally:
        stopped.cancel()


def _fold(view: _View, text: str) -> bool:
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
        return False
    return view.apply(str(parsed.get("type")), parsed["data"])


def _draw(view: _View, live: Live | None) -> None:
    if live is None:
        sys.stdout.write(json.dumps(view.snapshot()) + "\n")
        sys.stdout.flush()
    else:
        live.update(view.render(), refresh=True)


async def _queue(server: Server, limit: int) -> dict[str, Any]:
    body = await server.impasto("GET", "/api/impasto/queue", params={"limit": str(limit)})
    if not isinstance(body, dict):
        raise CommandError(f"{server.where} answered /api/impasto/queue with something that is not an object")
    return body
