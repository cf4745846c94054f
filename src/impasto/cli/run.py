"""`impasto run WORKFLOW`: queue the workflow (`--batch` times), follow its jobs live, report their files.

With `--server` it talks to a running impasto or ComfyUI over HTTP and the WebSocket; without, it starts an
embedded server and worker for the run (`cli/embedded.py`) and stops them after. Ctrl+C once cancels the
run's pending jobs and interrupts the running one cooperatively; twice force-stops it (impasto); a third
time leaves at once. Exit codes: 0 all completed, 1 a job failed, 2 bad input, 130 interrupted.
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
from typing import Any

import aiohttp
from rich.markup import escape

from impasto.cli.client import Server, server_url
from impasto.cli.output import FAILED, INTERRUPTED, OK, USAGE, CommandError, err_console, print_json, validation_lines
from impasto.cli.plan import Plan, make_plan
from impasto.cli.progress import RunDisplay
from impasto.cli.results import Copier, OutputFile, output_files
from impasto.cli.tracking import JobRun, RunStatus, message_prompt_id
from impasto.cli.workflow_file import WorkflowFile, read_workflow
from impasto.paths import Folders
from impasto.protocol.events import EventType

RECONCILE_INTERVAL = 2.0  # seconds between checks of jobs the socket has said nothing about


async def command(args: argparse.Namespace) -> int:
    source = read_workflow(args.workflow)
    if args.batch < 1:
        raise CommandError("--batch must be at least 1")
    if args.server is not None:
        async with Server(server_url(args.server)) as server:
            return await Run(server, source, args, None).run()
    from impasto.cli.embedded import EmbeddedServer, run_settings

    async with EmbeddedServer(run_settings(args)) as embedded:
        local = Server("http://localhost", unix_path=str(embedded.socket_path), timeout=120.0)
        async with local as server:
            return await Run(server, source, args, embedded.settings.folders).run()


class Run:
    def __init__(self, server: Server, source: WorkflowFile, args: argparse.Namespace, folders: Folders | None):
        self.server = server
        self.source = source
        self.args = args
        self.folders = folders
        self.runs: dict[str, JobRun] = {}
        self.files: dict[str, list[OutputFile]] = {}
        self.presses = 0
        self.abandoned = False
        self.impasto = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[Any] | None = None
        self._display: RunDisplay | None = None
        self._copier = None if args.output is None else Copier(server, args.output)

    async def run(self) -> int:
        object_info = await self.server.call("GET", "/object_info")
        if not isinstance(object_info, dict):
            raise CommandError(f"{self.server.where} answered /object_info with something that is not an object")
        args = self.args
        plan = make_plan(self.source, object_info, batch=args.batch, seed=args.seed, overrides=args.overrides)
        self.impasto = (await self.server.request("GET", "/api/impasto/health"))[0] == 200
        client_id = uuid.uuid4().hex
        ws = await self.server.websocket(client_id)
        loop = asyncio.get_running_loop()
        self._main = main = asyncio.current_task()
        assert main is not None
        try:
            await _first_status(ws, self.server.where)
            with RunDisplay(err_console(), plan, quiet=args.quiet or args.json) as display:
                self._display = display
                loop.add_signal_handler(signal.SIGINT, self._on_sigint)
                try:
                    await self._submit(plan, client_id, display)
                    await self._follow(ws, display)
                except asyncio.CancelledError:
                    if self.presses < 3:
                        raise
                    main.uncancel()
                    self.abandoned = True
                finally:
                    loop.remove_signal_handler(signal.SIGINT)
        finally:
            for task in self._tasks:
                task.cancel()
            await ws.close()
        return self._finish()

    async def _submit(self, plan: Plan, client_id: str, display: RunDisplay) -> None:
        order = list(reversed(plan.items)) if self.args.front else plan.items  # front jobs run last-in-first-out
        for item in order:
            if self.presses:
                return
            body: dict[str, Any] = {"prompt": item.prompt, "client_id": client_id, "extra_data": item.extra_data}
            if self.args.front:
                body["front"] = True
            status, answer = await self.server.request("POST", "/prompt", body)
            if status != 200 or not isinstance(answer, dict) or not isinstance(answer.get("prompt_id"), str):
                await self._cancel_submitted()
                lines = validation_lines(answer, plan.titles)
                text = "the server refused the workflow:\n  " + "\n  ".join(lines)
                raise CommandError(text, USAGE if status < 500 else FAILED, body=answer)
            if answer.get("node_errors") and not self.runs:
                display.notice(
                    "[yellow]some outputs were dropped:[/]\n  " + escape("\n  ".join(validation_lines(answer)))
                )
            run = JobRun(item, answer["prompt_id"])
            self.runs[run.prompt_id] = run
        for run in sorted(self.runs.values(), key=lambda r: r.item.index):
            display.added(run)

    async def _cancel_submitted(self) -> None:
        for run in self.runs.values():
            await self._cancel(run)

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse, display: RunDisplay) -> None:
        checked = time.monotonic()
        while not all(run.reported for run in self.runs.values()):
            try:
                message = await asyncio.wait_for(ws.receive(), timeout=RECONCILE_INTERVAL)
            except TimeoutError:
                message = None
            if message is not None and message.type is aiohttp.WSMsgType.TEXT:
                await self._on_message(message.data, display)
            elif message is not None and message.type is not aiohttp.WSMsgType.BINARY:  # previews are not drawn
                raise CommandError(f"the server at {self.server.where} closed the WebSocket during the run", FAILED)
            if time.monotonic() - checked >= RECONCILE_INTERVAL:
                checked = time.monotonic()
                await self._reconcile(display)

    async def _on_message(self, text: str, display: RunDisplay) -> None:
        try:
            parsed = json.loads(text)
        except ValueError:
            return
        if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
            return
        kind, data = str(parsed.get("type")), parsed["data"]
        run = self.runs.get(message_prompt_id(data) or "")
        if run is None:
            return
        run.apply(kind, data)
        display.update(run)
        if kind == EventType.EXECUTING and data.get("node") is None and run.status.done:
            await self._report(run, display)  # `executing null` follows the job's last store change

    async def _reconcile(self, display: RunDisplay) -> None:
        """Ask about jobs the socket went quiet on: ended (a missed message) or taken off the queue."""
        for run in list(self.runs.values()):
            if run.reported:
                continue
            if not run.status.done:
                entry = await self._history(run.prompt_id)
                if entry:
                    run.end_from_history(entry)
                elif run.status is RunStatus.PENDING and await self._removed(run):
                    run.removed()
                display.update(run)
            if run.status.done:
                await self._report(run, display)

    async def _history(self, prompt_id: str) -> dict[str, Any]:
        status, body = await self.server.request("GET", f"/history/{prompt_id}")
        entry = body.get(prompt_id) if status == 200 and isinstance(body, dict) else None
        return entry if isinstance(entry, dict) else {}

    async def _removed(self, run: JobRun) -> bool:
        """Whether a job that never started left the queue (deleted or cancelled) rather than ran unseen."""
        if self.impasto:
            status, body = await self.server.request("GET", f"/api/impasto/jobs/{run.prompt_id}")
            if status == 404:
                return True
            return isinstance(body, dict) and body.get("stop_reason") == "removed"
        status, body = await self.server.request("GET", "/queue")
        items = [*body.get("queue_running", []), *body.get("queue_pending", [])] if isinstance(body, dict) else []
        queued = any(isinstance(i, list) and len(i) > 1 and i[1] == run.prompt_id for i in items)
        return not queued and not await self._history(run.prompt_id)  # not ended in between either

    async def _report(self, run: JobRun, display: RunDisplay) -> None:
        if run.reported:
            return
        run.reported = True
        entry = await self._history(run.prompt_id) if run.status is not RunStatus.REMOVED else {}
        if isinstance(entry.get("outputs"), dict):
            run.outputs.update(entry["outputs"])
        files = output_files(run.outputs, self.folders)
        if self._copier is not None and files:
            files = await self._copier.copy(files)
        self.files[run.prompt_id] = files
        display.ended(run, [file.copied_to or file.path for file in files])

    def _on_sigint(self) -> None:
        self.presses += 1
        display = self._display
        if self.presses == 1:
            if display is not None:
                display.notice("[yellow]interrupting the run; press Ctrl+C again to force-stop[/]")
            self._spawn(self._interrupt())
        elif self.presses == 2:
            if display is not None:
                display.notice("[yellow]force-stopping[/]")
            self._spawn(self._force_stop())
        elif self._main is not None:
            self._main.cancel()

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _interrupt(self) -> None:
        waiting = sorted(self.runs.values(), key=lambda r: r.status is RunStatus.RUNNING)  # pending ones first
        for run in waiting:
            if not run.status.done:
                await self._guarded(self._cancel(run))

    async def _cancel(self, run: JobRun) -> None:
        if self.impasto:
            answer = await self.server.call("POST", f"/api/impasto/jobs/{run.prompt_id}/cancel", {})
            if answer.get("status") == "cancelled" and run.status is RunStatus.PENDING:
                run.removed()
        elif run.status is RunStatus.PENDING:
            await self.server.call("POST", "/queue", {"delete": [run.prompt_id]})
            run.removed()
        else:
            await self.server.call("POST", "/interrupt", {"prompt_id": run.prompt_id})

    async def _force_stop(self) -> None:
        if not self.impasto:
            if self._display is not None:
                self._display.notice("[red]this server has no force stop; waiting for the interrupt[/]")
            return
        for run in list(self.runs.values()):
            if not run.status.done:
                await self._guarded(self.server.call("POST", f"/api/impasto/jobs/{run.prompt_id}/force-stop"))

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except CommandError as exc:
            if self._display is not None:
                self._display.notice(f"[red]{escape(exc.message)}[/]")

    def _finish(self) -> int:
        runs = sorted(self.runs.values(), key=lambda r: r.item.index)
        statuses = {run.status for run in runs}
        if self.presses or self.abandoned or statuses & {RunStatus.INTERRUPTED, RunStatus.REMOVED}:
            code = INTERRUPTED
        elif RunStatus.FAILED in statuses or not all(run.status.done for run in runs):
            code = FAILED
        else:
            code = OK
        if self.args.json:
            print_json({"jobs": [self._job_json(run) for run in runs], "exit_code": code})
        elif not sys.stdout.isatty() and not self.args.quiet:
            for run in runs:
                for file in self.files.get(run.prompt_id, []):
                    print(file.copied_to or file.path)
        return code

    def _job_json(self, run: JobRun) -> dict[str, Any]:
        return {
            "index": run.item.index,
            "prompt_id": run.prompt_id,
            "status": run.status.value,
            "values": run.item.values,
            "elapsed_s": None if run.elapsed is None else round(run.elapsed, 3),
            "cached_nodes": len(run.cached),
            "error": run.error,
            "files": [file.json() for file in self.files.get(run.prompt_id, [])],
        }


async def _first_status(ws: aiohttp.ClientWebSocketResponse, where: str) -> None:
    """Wait for the socket's first `status`: from then on it receives this client's run events."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(10.0):
            while True:
                message = await ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT and '"status"' in message.data:
                    return
                if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    break
    raise CommandError(f"the WebSocket of {where} sent no status message")
