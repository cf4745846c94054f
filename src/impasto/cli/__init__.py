"""The `impasto` command: ComfyUI-compatible flags -> Settings -> run.

Until the HTTP server lands, the command runs one API-format workflow headless in this process
(the bundled example by default) and prints where its outputs went.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from impasto.cli.flags import build_parser, settings_from_args

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.verbose, format="%(levelname)s %(name)s: %(message)s")
    settings = settings_from_args(args)
    try:
        prompt = _load_workflow(args.workflow)
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


def _load_workflow(path: Path | None) -> object:
    if path is None:
        text = resources.files("impasto.examples").joinpath("invert.json").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return json.loads(text)


__all__ = ["main"]
