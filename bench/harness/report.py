"""The results as a table (rich when it imports, plain text otherwise) and as a JSON file.

Each cell is the median with the minimum and maximum over every sample of every round. With two servers the
last column is A ÷ B of the medians: below 1 means A is lower (faster for a latency, smaller for memory;
slower for a rate).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, TextIO

from bench.harness.figures import Figure, Outcome, Summary, ratio
from bench.harness.runner import Results

SCHEMA_VERSION = 1


def number(value: float) -> str:
    """Three significant figures or so: 0.412, 4.12, 41.2, 412, 4,120."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(summary: Summary | None) -> str:
    if summary is None:
        return "skipped"
    return f"{number(summary.median)} ({number(summary.low)}-{number(summary.high)})"


def rows(results: Results) -> list[list[str]]:
    labels = [spec.label for spec in results.specs]
    table = []
    for figure in results.figures:
        summaries = [results.outcomes[label][figure.key].summary() for label in labels]
        row = [figure.title, figure.unit, *(cell(summary) for summary in summaries)]
        if len(labels) == 2:
            value = ratio(summaries[0], summaries[1])
            row.append("-" if value is None else f"{value:.2f}")
        table.append(row)
    return table


def headers(results: Results) -> list[str]:
    labels = [spec.label for spec in results.specs]
    columns = ["figure", "unit", *(f"{label}: median (min-max)" for label in labels)]
    if len(labels) == 2:
        columns.append(f"{labels[0]}/{labels[1]}")
    return columns


def footnotes(results: Results) -> list[str]:
    lines = [f"{spec.label} = {spec.shown}" for spec in results.specs]
    for spec in results.specs:
        for figure in results.figures:
            outcome = results.outcomes[spec.label][figure.key]
            if outcome.skipped is not None:
                state = "partial" if outcome.samples else "skipped"
                lines.append(f"{spec.label} {figure.key} {state}: {outcome.skipped}")
            lines.extend(f"{spec.label} {figure.key}: {note}" for note in outcome.notes)
    for label, why in results.gone.items():
        lines.append(f"{label} stopped: the server {why}")
    return lines


def print_table(results: Results, stream: TextIO = sys.stdout) -> None:
    title = f"{results.rounds_done} of {results.plan.repeats} rounds, {os.cpu_count()} CPUs, {results.started}"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _print_plain(results, title, stream)
        return
    table = Table(title=title)
    for index, header in enumerate(headers(results)):
        table.add_column(header, justify="left" if index == 0 else "right")
    for row in rows(results):
        table.add_row(*row)
    # A terminal's own width; a file or pipe gets room for the whole table instead of rich's 80 columns.
    console = Console(file=stream, width=None if stream.isatty() else 180, highlight=False)
    console.print(table)
    for line in footnotes(results):
        console.print(line, markup=False)


def _print_plain(results: Results, title: str, stream: TextIO) -> None:
    table = [headers(results), *rows(results)]
    widths = [max(len(row[column]) for row in table) for column in range(len(table[0]))]
    print(title, file=stream)
    for index, row in enumerate(table):
        cells = [value.ljust(widths[0]) if i == 0 else value.rjust(widths[i]) for i, value in enumerate(row)]
        print("  ".join(cells), file=stream)
        if index == 0:
            print("  ".join("-" * width for width in widths), file=stream)
    for line in footnotes(results):
        print(line, file=stream)


def as_json(results: Results) -> dict[str, Any]:
    labels = [spec.label for spec in results.specs]
    return {
        "schema": SCHEMA_VERSION,
        "started": results.started,
        "finished": results.finished,
        "complete": not results.gone and results.rounds_done == results.plan.repeats,
        "rounds_done": results.rounds_done,
        "plan": {
            "repeats": results.plan.repeats,
            "roundtrips": results.plan.roundtrips,
            "burst": results.plan.burst,
            "pending_levels": list(results.plan.pending_levels),
            "latency_samples": results.plan.latency_samples,
            "fanout_clients": results.plan.fanout_clients,
            "fanout_prompts": results.plan.fanout_prompts,
            "busy_seconds": results.plan.busy_seconds,
            "groups": sorted(results.plan.groups),
            "hold": results.plan.hold.value,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "servers": [
            {"label": spec.label, "url": spec.url, "cmd": spec.cmd, "gone": results.gone.get(spec.label)}
            for spec in results.specs
        ],
        "figures": [
            _figure_json(figure, [results.outcomes[label][figure.key] for label in labels], labels)
            for figure in results.figures
        ],
    }


def _figure_json(figure: Figure, outcomes: list[Outcome], labels: list[str]) -> dict[str, Any]:
    per_server: dict[str, Any] = {}
    for label, outcome in zip(labels, outcomes, strict=True):
        summary = outcome.summary()
        per_server[label] = {
            "median": None if summary is None else summary.median,
            "min": None if summary is None else summary.low,
            "max": None if summary is None else summary.high,
            "n": len(outcome.samples),
            "samples": outcome.samples,
            "skipped": outcome.skipped,
            "notes": outcome.notes,
        }
    summaries = [outcome.summary() for outcome in outcomes]
    return {
        "key": figure.key,
        "title": figure.title,
        "unit": figure.unit,
        "better": figure.better.value,
        "results": per_server,
        "ratio": ratio(summaries[0], summaries[1]) if len(outcomes) == 2 else None,
    }


def write_json(results: Results, path: Path) -> None:
    """Written whole to a sibling file, then renamed, so a reader never sees half a file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(as_json(results), indent=2) + "\n")
    partial.replace(path)
