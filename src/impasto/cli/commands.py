"""The subcommands: `impasto run|queue|interrupt|history|watch`, parsed here, each run by its own module.

`impasto` alone (or with ComfyUI's server flags) still starts the server; `cli/__init__.py` sends argv here
only when its first word names a subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape

from impasto.cli.output import INTERRUPTED, OK, CommandError, err_console, print_json

HISTORY_STATUSES = ("completed", "failed", "cancelled")


def build_parser() -> argparse.ArgumentParser:
    description = "Run workflows and drive an impasto (or ComfyUI) server."
    parser = argparse.ArgumentParser(prog="impasto", description=description)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", metavar="URL", help="the server (default $IMPASTO_SERVER or 127.0.0.1:8188)")
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")

    _add_run(sub)
    queue = sub.add_parser("queue", help="inspect and change a server's queue", parents=[common])
    actions = queue.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("ls", help="running and pending jobs", parents=[common])
    ls.add_argument("--limit", type=int, default=50, help="pending jobs to list (default 50)")
    actions.add_parser("show", help="one job", parents=[common]).add_argument("id")
    actions.add_parser("rm", help="remove pending jobs", parents=[common]).add_argument("ids", nargs="+", metavar="ID")
    clear = actions.add_parser("clear", help="remove every pending job", parents=[common])
    clear.add_argument("--running", action="store_true", help="also interrupt the running jobs")
    cancel = actions.add_parser("cancel", help="cancel a pending or running job", parents=[common])
    cancel.add_argument("id")
    cancel.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait for a running job to end")
    actions.add_parser("pause", help="hold pending jobs (running ones finish)", parents=[common])
    actions.add_parser("resume", help="let pending jobs run again", parents=[common])
    move = actions.add_parser("move", help="reorder a pending job", parents=[common])
    move.add_argument("id")
    where = move.add_mutually_exclusive_group(required=True)
    where.add_argument("--front", action="store_true", help="run it next")
    where.add_argument("--back", action="store_true", help="run it last")
    where.add_argument("--before", metavar="ID", help="run it just before this pending job")

    interrupt = sub.add_parser("interrupt", help="interrupt running jobs", parents=[common])
    interrupt.add_argument("id", nargs="?", help="only this job (default: every running job)")
    interrupt.add_argument("--force", action="store_true", help="kill the worker at once instead of asking")

    history = sub.add_parser("history", help="finished jobs, newest first", parents=[common])
    history.add_argument("--limit", type=int, default=20, help="jobs to list (default 20)")
    history.add_argument("--status", choices=HISTORY_STATUSES, action="append", help="only these (repeatable)")

    watch = sub.add_parser("watch", help="a live view of the queue and the running jobs", parents=[common])
    watch.add_argument("--limit", type=int, default=10, help="pending jobs to show (default 10)")
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run a workflow file with live progress")
    run.add_argument("workflow", type=Path, metavar="WORKFLOW", help="API or UI workflow JSON, or a PNG/WebP")
    run.add_argument("--server", metavar="URL", help="use this server (default: start one for the run)")
    run.add_argument("--batch", type=int, default=1, metavar="N", help="queue N runs")
    run.add_argument(
        "--seed", metavar="MODE|N", help="fixed, increment, decrement, randomize, or a number to count from"
    )
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE", help="override an input"
    )
    run.add_argument("--front", action="store_true", help="queue ahead of what is already waiting")
    run.add_argument("--output", type=Path, metavar="DIR", help="copy the results into DIR")
    run.add_argument("--json", action="store_true", help="print the results as JSON")
    run.add_argument("--quiet", action="store_true", help="print only errors")
    local = run.add_argument_group("without --server (the embedded server)")
    local.add_argument("--base-directory", type=Path, default=None, help="parent of input/, output/, models/")
    local.add_argument("--output-directory", type=Path, default=None)
    local.add_argument("--input-directory", type=Path, default=None)
    local.add_argument("--user-directory", type=Path, default=None)
    local.add_argument("--extra-model-paths-config", type=Path, action="append", default=[], metavar="PATH")
    local.add_argument("--disable-all-custom-nodes", action="store_true")
    local.add_argument("--cpu", action="store_true")


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    handler = _handler(args)
    try:
        return asyncio.run(handler(args))
    except CommandError as exc:
        if getattr(args, "json", False):
            print_json({"error": exc.message, "exit_code": exc.code, "server_answer": exc.body})
        err_console().print(f"[bold red]impasto:[/] {escape(exc.message)}")
        return exc.code
    except KeyboardInterrupt:
        return INTERRUPTED if args.command == "run" else OK


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]]:
    if args.command == "run":
        from impasto.cli import run

        return run.command
    if args.command == "watch":
        from impasto.cli import watch

        return watch.command
    from impasto.cli import queue

    return queue.command
