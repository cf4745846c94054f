"""Reading `impasto run`'s WORKFLOW: an API prompt, a UI workflow, a `/prompt` body, or an image that carries one.

The file is read and recognised before the server is asked anything, so a wrong file is reported at once.
Turning a UI workflow into a prompt needs the server's node definitions and happens later
(`graph/ui_convert.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.cli.image_metadata import ImageMetadataError, image_texts
from impasto.cli.output import CommandError
from impasto.graph.ui_convert import is_ui_workflow


@dataclass(frozen=True, slots=True)
class WorkflowFile:
    """What WORKFLOW held: an API prompt, a UI workflow, or both (an image from SaveImage carries both)."""

    path: Path
    kind: str  # "api", "ui", "png" or "webp"
    prompt: dict[str, Any] | None
    workflow: dict[str, Any] | None


def is_api_prompt(data: object) -> bool:
    """A non-empty object whose every value is a node with a `class_type`."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(node, dict) and isinstance(node.get("class_type"), str) for node in data.values())
    )


def read_workflow(path: Path) -> WorkflowFile:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        texts = image_texts(data)
    except ImageMetadataError as exc:
        raise CommandError(f"{path}: {exc}") from None
    if texts is not None:
        return _from_image(path, data, texts)
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CommandError(f"{path} is neither JSON nor a PNG or WebP image with a workflow in its metadata") from None
    return _from_json(path, parsed)


def _from_json(path: Path, parsed: Any) -> WorkflowFile:
    if is_api_prompt(parsed):
        return WorkflowFile(path, "api", parsed, None)
    if is_ui_workflow(parsed):
        return WorkflowFile(path, "ui", None, parsed)
    if isinstance(parsed, dict) and is_api_prompt(parsed.get("prompt")):  # a `POST /prompt` body
        extra = parsed.get("extra_data")
        pnginfo = extra.get("extra_pnginfo") if isinstance(extra, dict) else None
        workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
        return WorkflowFile(path, "api", parsed["prompt"], workflow if is_ui_workflow(workflow) else None)
    raise CommandError(
        f"{path} is JSON but neither an API prompt ({{id: {{class_type, inputs}}}}) nor a UI workflow (with nodes)"
    )


def _from_image(path: Path, data: bytes, texts: dict[str, str]) -> WorkflowFile:
    kind = "png" if data.startswith(b"\x89PNG") else "webp"
    if not texts:
        raise CommandError(f"{path}: the {kind.upper()} carries no prompt or workflow in its metadata")
    prompt = _json_text(path, texts, "prompt")
    workflow = _json_text(path, texts, "workflow")
    if not is_api_prompt(prompt):
        prompt = None
    if not is_ui_workflow(workflow):
        workflow = None
    if prompt is None and workflow is None:
        raise CommandError(f"{path}: the image's prompt and workflow metadata hold no nodes")
    return WorkflowFile(path, kind, prompt, workflow)


def _json_text(path: Path, texts: dict[str, str], key: str) -> Any:
    if key not in texts:
        return None
    try:
        return json.loads(texts[key])
    except ValueError:
        raise CommandError(f"{path}: the image's {key!r} metadata is not JSON") from None
