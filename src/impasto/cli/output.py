"""What the subcommands print: exit codes, errors, JSON, and the frontend's wording for validation errors.

Results go to stdout (a table, or JSON with `--json`); progress, notices and errors go to stderr, so
`impasto run wf.json --json > result.json` stays parseable while the terminal still shows what happens.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console

OK = 0  # everything asked for happened
FAILED = 1  # a job failed, or an action did not apply (unknown job, not pending)
USAGE = 2  # bad arguments or input, a rejected prompt, an unreachable server
INTERRUPTED = 130  # a job was interrupted (Ctrl+C, like a shell's 128 + SIGINT)


class CommandError(Exception):
    """Ends a subcommand with a message on stderr and an exit code; never a traceback."""

    def __init__(self, message: str, code: int = USAGE, *, body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.body = body  # what the server answered, for --json


PIPED_WIDTH = 200  # tables written to a file or pipe are not cut to 80 columns


def out_console() -> Console:
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)


def err_console() -> Console:
    width = None if sys.stderr.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(file=sys.stderr, highlight=False, width=width)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validation_lines(body: Any, titles: Mapping[str, str] | None = None) -> list[str]:
    """A rejected prompt as the frontend lists it: the reason, then each node's errors with input and value."""
    if not isinstance(body, dict):
        return [f"the server answered {short(body, 200)}"]
    error = body.get("error")
    lines = []
    if isinstance(error, dict):
        message, details = str(error.get("message", "")), str(error.get("details", ""))
        lines.append(f"{message}: {details}" if details and details not in message else message)
    elif error is not None:
        lines.append(str(error))
    node_errors = body.get("node_errors")
    for node_id, entry in (node_errors or {}).items() if isinstance(node_errors, dict) else ():
        class_type = entry.get("class_type", "?") if isinstance(entry, dict) else "?"
        title = (titles or {}).get(str(node_id))
        name = f"{class_type} {title!r}" if title and title != class_type else class_type
        lines.append(f"node {node_id} ({name}):")
        for item in entry.get("errors", []) if isinstance(entry, dict) else []:
            lines.append("  " + _node_error(item))
    return lines or ["the server refused the prompt"]


def _node_error(item: Mapping[str, Any]) -> str:
    extra = item.get("extra_info") if isinstance(item.get("extra_info"), dict) else {}
    assert isinstance(extra, dict)
    name = extra.get("input_name")
    text = str(item.get("message", item.get("type", "error")))
    if name:
        text = f"{name}: {text}"
    if "received_value" in extra:
        text += f" (received {short(extra['received_value'])})"
    details = str(item.get("details", ""))
    if details and details != name:
        text += f" - {details}"
    return text
