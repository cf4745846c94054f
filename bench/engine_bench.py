"""Engine benchmark: a chain of trivial math nodes, validated, run fresh, and re-run from the cache.

    .venv/bin/python bench/engine_bench.py [--nodes 1000] [--repeat 21]

Prints a Markdown table of medians (and the 10th/90th percentiles) in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from impasto.engine.events import Event, PreviewEvent
from impasto.engine.runner import Engine, RunRequest, RunStatus
from impasto.engine.validation import local_validate_hook
from impasto.graph.validate import validate_prompt
from impasto.workers.child import core_registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import timed


def chain_prompt(nodes: int) -> dict[str, Any]:
    """PrimitiveInt -> (nodes - 2) x ImpastoIntMath(add 1) -> PreviewAny: `nodes` nodes in all."""
    prompt: dict[str, Any] = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 0}}}
    for i in range(2, nodes):
        prompt[str(i)] = {"class_type": "ImpastoIntMath", "inputs": {"a": [str(i - 1), 0], "b": 1, "op": "add"}}
    prompt[str(nodes)] = {"class_type": "PreviewAny", "inputs": {"source": [str(nodes - 1), 0]}}
    return prompt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args(argv)

    registry = core_registry()
    catalog = registry.catalog()
    hook = local_validate_hook(registry)
    prompt = chain_prompt(args.nodes)
    validation = validate_prompt(prompt, catalog, hook)
    assert validation.ok, validation.error
    request = RunRequest("bench", validation.prompt, validation.outputs)
    events: list[Event | PreviewEvent] = []

    def fresh() -> None:
        events.clear()
        result = Engine(registry).run_sync(request, events.append)
        assert result.status is RunStatus.SUCCESS
        assert result.outputs[str(args.nodes)]["text"] == [str(args.nodes - 2)]

    warm = Engine(registry)
    warm.run_sync(request)

    def rerun() -> None:
        events.clear()
        result = warm.run_sync(request, events.append)
        assert result.status is RunStatus.SUCCESS and result.executed == []

    rows = [
        ("validate", timed(lambda: validate_prompt(prompt, catalog, hook), args.repeat)),
        ("first run (empty cache)", timed(fresh, args.repeat)),
        ("identical re-run (all cached)", timed(rerun, args.repeat)),
    ]
    print(f"{args.nodes}-node chain, {args.repeat} repeats, Python {sys.version.split()[0]}\n")
    print("| step | median ms | p10 ms | p90 ms | median µs per node |")
    print("|---|---:|---:|---:|---:|")
    for name, samples in rows:
        deciles = statistics.quantiles(samples, n=10)
        median = statistics.median(samples)
        print(f"| {name} | {median:.1f} | {deciles[0]:.1f} | {deciles[-1]:.1f} | {median * 1000 / args.nodes:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
