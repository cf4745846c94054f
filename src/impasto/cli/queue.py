"""`impasto queue ...`, `impasto interrupt` and `impasto history`: one request or a few, a table or JSON.

They use impasto's own endpoints (http-api.md §7) where ComfyUI has nothing alike (pause, move, typed
cancels), and the compatible ones (`/interrupt`, `/queue`, `/api/jobs`) where they do the job.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from typing import Any

from rich.table import Table

from impasto.cli.client import ApiError, Server, server_url
from impasto.cli.output import FAILED, OK, USAGE, CommandError, out_console, print_json, short


async def command(args: argparse.Namespace) -> int:
    async with Server(server_url(args.server)) as server:
        if args.command == "interrupt":
            return await interrupt(server, args)
        if args.command == "history":
            return await history(server, args)
        action = _ACTIONS[args.action]
        return await action(server, args)


async def ls(server: Server, args: argparse.Namespace) -> int:
    body = await server.impasto("GET", "/api/impasto/queue", params={"limit": str(max(args.limit, 0))})
    if args.json:
        print_json(body)
        return OK
    console = out_console()
    counts = body.get("counts", {})
    state = "[yellow]paused[/]" if body.get("paused") else "running"
    console.print(
        f"queue {state}: {len(body.get('running', []))} running, {body.get('pending_total', 0)} pending, "
        f"{counts.get('completed', 0)} completed, {counts.get('failed', 0)} failed, "
        f"{counts.get('cancelled', 0)} cancelled"
    )
    if body.get("running"):
        console.print(running_table(body))
    else:
        console.print("nothing is running")
    pending = body.get("pending", [])
    if pending:
        table = Table(title="pending", title_justify="left")
        for name in ("#", "id", "number", "queued", "workflow"):
            table.add_column(name, no_wrap=True, min_width=36 if name == "id" else None)
        for job in pending:
            queued = ago(job.get("create_time"))
            table.add_row(str(job["position"]), job["id"], str(job["number"]), queued, job.get("workflow_id") or "")
        console.print(table)
        more = body.get("pending_total", 0) - len(pending)
        if more > 0:
            console.print(f"… and {more} more pending")
    return OK


def running_table(body: Mapping[str, Any]) -> Table:
    table = Table(title="running", title_justify="left")
    for name in ("id", "number", "worker", "node", "running for", "state"):
        table.add_column(name, no_wrap=True, min_width=36 if name == "id" else None)
    for job in body.get("running", []):
        titles = job.get("node_titles") or {}
        node = job.get("node")
        node_text = f"{titles.get(node, node)} (#{node})" if node else ""
        table.add_row(
            job["id"],
            str(job.get("number", "")),
            str(job.get("worker") or ""),
            node_text,
            ago(job.get("start_time")),
            "[yellow]stopping[/]" if job.get("cancel_requested") else "running",
        )
    return table


async def show(server: Server, args: argparse.Namespace) -> int:
    try:
        details = await server.impasto("GET", f"/api/impasto/jobs/{args.id}")
    except ApiError as exc:
        if exc.status == 404:
            raise CommandError(f"no job {args.id} on {server.where}", FAILED) from None
        raise
    status, job = await server.request("GET", f"/api/jobs/{args.id}")
    if status == 200 and isinstance(job, dict):
        details["outputs"] = job.get("outputs", {})
        if "execution_error" in job:
            details["execution_error"] = job["execution_error"]
    if args.json:
        print_json(details)
        return OK
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key in ("id", "status", "number", "position", "worker", "client_id", "stop_reason"):
        if details.get(key) is not None:
            table.add_row(key, str(details[key]))
    for key in ("create_time", "start_time", "end_time"):
        if details.get(key) is not None:
            table.add_row(key.replace("_time", "d" if key == "create_time" else "ed"), clock(details[key]))
    for key, value in (details.get("values") or {}).items():
        table.add_row(key, short(value))
    error = details.get("execution_error")
    if isinstance(error, dict):
        where = f"node {error.get('node_id')} ({error.get('node_type')})"
        table.add_row("error", f"{where}: {error.get('exception_message')}")
    for name in output_files(details.get("outputs") or {}):
        table.add_row("output", name)
    out_console().print(table)
    return OK


def output_files(outputs: Mapping[str, Any]) -> list[str]:
    """`type/subfolder/filename` of every file a job's outputs name."""
    names = []
    for ui in outputs.values():
        for items in (ui or {}).values() if isinstance(ui, dict) else ():
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict) and "filename" in item:
                    parts = [item.get("type", "output"), item.get("subfolder") or "", item["filename"]]
                    names.append("/".join(p for p in parts if p))
    return names


async def rm(server: Server, args: argparse.Namespace) -> int:
    """Remove pending jobs (`POST /queue {"delete"}`): a running or finished job is left alone and reported."""
    before = {job_id: await _status(server, job_id) for job_id in args.ids}
    pending = [job_id for job_id, status in before.items() if status == "pending"]
    if pending:
        await server.call("POST", "/queue", {"delete": pending})
    results = {}
    for job_id, status in before.items():
        after = await _status(server, job_id) if job_id in pending else status
        if job_id in pending and after == "cancelled":
            results[job_id] = "removed"
        elif status is None:
            results[job_id] = "unknown"
        else:
            results[job_id] = f"not pending ({after})"
    return _report(args, results, lambda result: result == "removed")


async def _status(server: Server, job_id: str) -> str | None:
    status, body = await server.request("GET", f"/api/impasto/jobs/{job_id}")
    if status == 400:
        raise ApiError(status, body, f"/api/impasto/jobs/{job_id}")
    return body.get("status") if status == 200 and isinstance(body, dict) else None


async def clear(server: Server, args: argparse.Namespace) -> int:
    body = await server.impasto("POST", "/api/impasto/queue/clear", {"include_running": args.running})
    if args.json:
        print_json(body)
    else:
        text = f"removed {body['removed']} pending job(s)"
        if args.running:
            text += f", interrupted {body['interrupted']} running"
        if body.get("repeats_stopped"):
            text += f", stopped {body['repeats_stopped']} repeat(s)"
        out_console().print(text)
    return OK


async def cancel(server: Server, args: argparse.Namespace) -> int:
    wait = min(max(args.wait, 0.0), 30.0)
    body = await server.impasto("POST", f"/api/impasto/jobs/{args.id}/cancel", {}, params={"wait": str(wait)})
    return _report(args, {args.id: _with_status(body)}, lambda result: result.startswith("cancelled"), body)


def _with_status(body: Mapping[str, Any]) -> str:
    result = str(body.get("result"))
    return f"{result} (now {body['status']})" if body.get("status") else result


async def pause(server: Server, args: argparse.Namespace) -> int:
    return await _pause(server, args, True)


async def resume(server: Server, args: argparse.Namespace) -> int:
    return await _pause(server, args, False)


async def _pause(server: Server, args: argparse.Namespace, paused: bool) -> int:
    body = await server.impasto("POST", f"/api/impasto/queue/{'pause' if paused else 'resume'}")
    if args.json:
        print_json(body)
    else:
        word = "paused" if paused else "running"
        already = body.get("was_paused") == paused
        out_console().print(f"the queue {'was already' if already else 'is now'} {word}")
    return OK


async def move(server: Server, args: argparse.Namespace) -> int:
    target: dict[str, str] = {"before": args.before} if args.before else {"to": "front" if args.front else "back"}
    try:
        body = await server.impasto("POST", f"/api/impasto/jobs/{args.id}/move", target)
    except ApiError as exc:
        if exc.status in (404, 409):
            reason = exc.message.split(": ", 1)[-1]
            raise CommandError(f"cannot move {args.id}: {reason}", FAILED, body=exc.body) from None
        raise
    if args.json:
        print_json(body)
    else:
        out_console().print(f"{body['id']} is now at position {body['position']}")
    return OK


async def interrupt(server: Server, args: argparse.Namespace) -> int:
    """A typed cancel of each running job (cooperative, escalating after the server's grace period), or with
    --force a force stop, which kills the job's worker at once."""
    if args.id is None:
        queue = await server.impasto("GET", "/api/impasto/queue", params={"limit": "0"})
        targets = [job["id"] for job in queue.get("running", [])]
    else:
        targets = [args.id]
    results: dict[str, str] = {}
    for job_id in targets:
        if args.force:
            body = await server.impasto("POST", f"/api/impasto/jobs/{job_id}/force-stop")
            results[job_id] = str(body.get("result"))
        else:
            body = await server.impasto("POST", f"/api/impasto/jobs/{job_id}/cancel", {"scope": "running"})
            results[job_id] = "interrupting" if body.get("result") == "cancelled" else str(body.get("result"))
    if not targets:
        if args.json:
            print_json({"jobs": {}})
        else:
            out_console().print("nothing is running")
        return OK
    return _report(args, results, lambda result: result in ("interrupting", "stopped"))


async def history(server: Server, args: argparse.Namespace) -> int:
    if args.limit <= 0:
        raise CommandError("--limit must be a positive number", USAGE)
    statuses = ",".join(args.status or ("completed", "failed", "cancelled"))
    params = {"status": statuses, "limit": str(args.limit), "sort_by": "created_at", "sort_order": "desc"}
    body = await server.call("GET", "/api/jobs", params=params)
    if args.json:
        print_json(body)
        return OK
    table = Table(title=f"history ({body.get('pagination', {}).get('total', 0)} jobs)", title_justify="left")
    for name in ("id", "status", "queued", "took", "outputs", "error"):
        table.add_column(name, no_wrap=name != "error", min_width=36 if name == "id" else None)
    styles = {"completed": "green", "failed": "red", "cancelled": "yellow"}
    for job in body.get("jobs", []):
        status = job.get("status", "")
        error = job.get("execution_error") or {}
        start, end = job.get("execution_start_time"), job.get("execution_end_time")
        took = f"{(end - start) / 1000:.2f} s" if isinstance(start, int) and isinstance(end, int) else ""
        table.add_row(
            job["id"],
            f"[{styles.get(status, 'white')}]{status}[/]",
            clock(job.get("create_time")),
            took,
            str(job.get("outputs_count", 0)),
            short(error.get("exception_message", "")) if isinstance(error, dict) else "",
        )
    out_console().print(table)
    return OK


def _report(args: argparse.Namespace, results: Mapping[str, str], good: Any, body: Any = None) -> int:
    if args.json:
        print_json(body if body is not None else {"jobs": dict(results)})
    else:
        console = out_console()
        for job_id, result in results.items():
            console.print(f"{job_id}: {result}")
    return OK if all(good(result) for result in results.values()) else FAILED


def ago(ms: Any) -> str:
    """How long ago an epoch-milliseconds time was, as `12.3 s` or `4 min`."""
    if not isinstance(ms, int | float):
        return ""
    seconds = max(0.0, time.time() - ms / 1000)
    if seconds < 90:
        return f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def clock(ms: Any) -> str:
    if not isinstance(ms, int | float):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


_ACTIONS = {
    "ls": ls,
    "show": show,
    "rm": rm,
    "clear": clear,
    "cancel": cancel,
    "pause": pause,
    "resume": resume,
    "move": move,
}
