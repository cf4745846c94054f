"""`python -m bench`: measure a ComfyUI-API server (impasto or ComfyUI) over HTTP and the WebSocket only.

    python -m bench --url http://127.0.0.1:8188
    python -m bench --cmd "impasto --data-dir {dir} --port {port}" --vs "python main.py --port {port}" --json out.json

Exit status: 0 when every round ran, 2 for bad arguments or a server that cannot be reached or started,
3 when a server stopped answering during the run (what was measured is still printed and written), 130 on
Ctrl+C (likewise).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from bench.harness import report
from bench.harness.context import HoldMode, Plan
from bench.harness.figures import GROUPS
from bench.harness.runner import Results, Unreachable, run
from bench.harness.target import DIR_PLACEHOLDER, PORT_PLACEHOLDER, TargetSpec

NODES_FILE = Path(__file__).with_name("bench_nodes.py")
EXIT_BAD_INPUT = 2
EXIT_SERVER_GONE = 3
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # argparse's own is NoReturn too
        self.print_usage(sys.stderr)
        print(f"bench: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parse = _Parser(prog="python -m bench", description=doc.splitlines()[0])
    where = parse.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8188")
    where.add_argument(
        "--cmd",
        help=f"a command that starts a server on port {PORT_PLACEHOLDER}, started each round; "
        f"{DIR_PLACEHOLDER} becomes a new empty directory for each start",
    )
    parse.add_argument("--vs", metavar="URL_OR_CMD", help="a second server, measured in turn with the first")
    parse.add_argument("--json", type=Path, metavar="FILE", help="write every sample and summary here")
    parse.add_argument("--quick", action="store_true", help="small counts and 3 rounds (what CI runs)")
    parse.add_argument("--repeats", type=int, metavar="N", help="rounds (default 5, or 3 with --quick)")
    parse.add_argument("--only", metavar="GROUPS", help=f"comma list of figure groups: {', '.join(GROUPS)}")
    parse.add_argument(
        "--hold",
        choices=[mode.value for mode in HoldMode],
        default=HoldMode.AUTO.value,
        help="how the pending-queue figures hold the queue: impasto's pause endpoint, a long job in front, or "
        "pause where the server has it (default)",
    )
    parse.add_argument("--start-timeout", type=float, default=120.0, metavar="S", help="for --cmd (default 120)")
    parse.add_argument(
        "--install-nodes", type=Path, metavar="FOLDER", help="copy the benchmark's node pack into a custom_nodes folder"
    )
    return parse


def plan_of(args: argparse.Namespace, parse: argparse.ArgumentParser) -> Plan:
    groups = frozenset(GROUPS)
    if args.only:
        chosen = {name.strip() for name in args.only.split(",") if name.strip()}
        unknown = sorted(chosen - groups)
        if unknown or not chosen:
            parse.error(f"--only: unknown group {', '.join(unknown) or '(none given)'}; known: {', '.join(GROUPS)}")
        groups = frozenset(chosen)
    plan = Plan.quick(groups) if args.quick else Plan.full(groups)
    if args.repeats is not None:
        if args.repeats < 1:
            parse.error("--repeats must be at least 1")
        plan = replace(plan, repeats=args.repeats)
    return replace(plan, hold=HoldMode(args.hold))


def specs_of(args: argparse.Namespace, parse: argparse.ArgumentParser) -> list[TargetSpec]:
    if args.url is None and args.cmd is None:
        parse.error("give --url URL (a running server) or --cmd COMMAND (one to start)")
    first = TargetSpec("A", url=args.url.rstrip("/")) if args.url is not None else TargetSpec("A", cmd=args.cmd)
    specs = [first]
    if args.vs is not None:
        specs.append(TargetSpec.parse("B", args.vs))
    for spec in specs:
        if spec.url is not None and not spec.url.startswith(("http://", "https://")):
            parse.error(f"not an http(s) URL: {spec.url}")
        if spec.cmd is not None and PORT_PLACEHOLDER not in spec.cmd:
            parse.error(f"the command must contain {PORT_PLACEHOLDER}, where the port goes: {spec.cmd}")
    return specs


def main(argv: list[str] | None = None) -> int:
    parse = parser()
    args = parse.parse_args(argv)
    if args.install_nodes is not None:
        return _install(args.install_nodes)
    plan, specs = plan_of(args, parse), specs_of(args, parse)
    results = Results.empty(plan, specs)
    status = 0
    try:
        asyncio.run(run(results, args.start_timeout, _progress))
    except Unreachable as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("bench: interrupted; the results so far follow", file=sys.stderr)
        status = EXIT_INTERRUPTED
    if results.gone and not status:
        for label, why in results.gone.items():
            print(f"bench: error: server {label} {why}; the results so far are kept", file=sys.stderr)
        status = EXIT_SERVER_GONE
    report.print_table(results)
    if args.json is not None:
        report.write_json(results, args.json)
        print(f"bench: wrote {args.json}", file=sys.stderr)
    return status


def _install(folder: Path) -> int:
    if not folder.is_dir():
        print(f"bench: error: {folder} is not a folder (give the server's custom_nodes folder)", file=sys.stderr)
        return EXIT_BAD_INPUT
    shutil.copy(NODES_FILE, folder / NODES_FILE.name)
    print(f"bench: copied {NODES_FILE.name} into {folder}; restart the server to load it", file=sys.stderr)
    return 0


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
