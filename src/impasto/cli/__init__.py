"""The `impasto` command: ComfyUI-compatible flags -> Settings -> the server (or one headless run), or a
subcommand (`run`, `queue`, `interrupt`, `history`, `watch`) when the first word names one."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from impasto.cli.flags import build_parser, settings_from_args
from impasto.config import Settings
from impasto.paths_yaml import ExtraPathsError

log = logging.getLogger(__name__)

SUBCOMMANDS = frozenset({"run", "queue", "interrupt", "history", "watch"})  # parsed by cli/commands.py


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in SUBCOMMANDS:
        from impasto.cli.commands import main as subcommand

        return subcommand(words)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.verbose, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from_args(args)
    except ExtraPathsError as exc:
        parser.error(str(exc))
    if args.workflow is not None:
        return run_headless(settings, args.workflow)
    from impasto.server.catalog import catalog_file
    from impasto.workers.nodehost import NodeHost

    host = NodeHost(settings)
    saved = catalog_file(settings)
    if saved is None or not saved.is_file():
        # Nothing to answer /object_info with until the node host has loaded the node modules: it starts
        # before this process imports the server, so both loads run at once (each about a third of a second
        # on a small machine). With a saved catalog it starts later, off the path to the first answer.
        host.start()
    from impasto.server.main import StartupError, serve

    try:
        asyncio.run(serve(settings, host))
    except StartupError as exc:
        print(f"impasto: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        host.close()
    return 0


def run_headless(settings: Settings, workflow: Path) -> int:
    """Validate and run one API-format workflow in this process; print where its images went."""
    try:
        prompt = json.loads(workflow.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"impasto: cannot read workflow: {exc}", file=sys.stderr)
        return 2
    from impasto.workers.child import EmbeddedRunner

    runner = EmbeddedRunner(settings)
    validation = runner.validate(prompt)
    if not validation.ok:
        assert validation.error is not None
        print(f"impasto: {validation.error['message']}: {validation.error['details']}", file=sys.stderr)
        for node_id, entry in validation.node_errors.items():
            for error in entry["errors"]:
                print(
                    f"  node {node_id} ({entry['class_type']}): {error['message']}: {error['details']}", file=sys.stderr
                )
        return 2
    result = runner.run(validation)
    if result.error is not None:
        print(
            f"impasto: node {result.error['node_id']} ({result.error['node_type']}) failed: "
            f"{result.error['exception_message'].strip()}",
            file=sys.stderr,
        )
        return 1
    for node_id, ui in result.outputs.items():
        for image in ui.get("images", []):
            folder = settings.folders.output if image.get("type") == "output" else settings.folders.temp
            print(f"node {node_id}: {Path(folder, image.get('subfolder', ''), image['filename'])}")
    return 0
