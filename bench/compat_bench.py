"""Custom-node benchmark: what loading the fixture pack costs at start-up, and the per-node cost of a V1 (and
a V3) custom node against a built-in node in the same chain.

    .venv/bin/python bench/compat_bench.py [--nodes 1000] [--repeat 21] [--startups 7]

Prints Markdown tables of medians (and the 10th/90th percentiles) in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from impasto.compat.loader import load_custom_nodes
from impasto.engine.registry import NodeRegistry
from impasto.engine.runner import Engine, RunRequest, RunStatus
from impasto.engine.validation import local_validate_hook
from impasto.graph.validate import validate_prompt
from impasto.workers.child import core_registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import timed

ROOT = Path(__file__).resolve().parent.parent

PACK = ROOT / "tests" / "support" / "compat_pack"

V3_PACK = """
from comfy_api.latest import ComfyExtension, io


class BenchAddV3(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="BenchAddV3", inputs=[io.Int.Input("a"), io.Int.Input("b")],
                         outputs=[io.Int.Output()])

    @classmethod
    def execute(cls, a, b):
        return io.NodeOutput(a + b)


class Extension(ComfyExtension):
    async def get_node_list(self):
        return [BenchAddV3]


async def comfy_entrypoint():
    return Extension()
"""

# torch is imported before the clock starts: a worker imports it at start-up whether packs need it or not.
STARTUP = """
import json, sys, time
from pathlib import Path
import torch
from impasto.workers.child import core_registry
from impasto.compat.loader import load_custom_nodes
registry = core_registry()
started = time.perf_counter()
results = load_custom_nodes([Path(p) for p in sys.argv[1:]], registry)
print(json.dumps({"ms": (time.perf_counter() - started) * 1000, "nodes": sum(len(r.nodes) for r in results)}))
"""


def chain(nodes: int, class_type: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """PrimitiveInt -> (nodes - 2) x an add-one node -> PreviewAny: `nodes` nodes in all."""
    prompt: dict[str, Any] = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 0}}}
    for i in range(2, nodes):
        prompt[str(i)] = {"class_type": class_type, "inputs": {"a": [str(i - 1), 0], "b": 1, **inputs}}
    prompt[str(nodes)] = {"class_type": "PreviewAny", "inputs": {"source": [str(nodes - 1), 0]}}
    return prompt


def run_chain(registry: NodeRegistry, prompt: dict[str, Any], nodes: int, repeat: int) -> list[float]:
    validation = validate_prompt(prompt, registry.catalog(), local_validate_hook(registry))
    assert validation.ok, (validation.error, validation.node_errors)
    request = RunRequest("bench", validation.prompt, validation.outputs)

    def fresh() -> None:
        result = Engine(registry).run_sync(request)
        assert result.status is RunStatus.SUCCESS
        assert result.outputs[str(nodes)]["text"] == [str(nodes - 2)]

    fresh()  # warm-up: first calls, imports
    return timed(fresh, repeat)


def startup(folders: list[Path], repeat: int) -> tuple[list[float], int]:
    samples, count = [], 0
    for _ in range(repeat):
        done = subprocess.run(
            [sys.executable, "-c", STARTUP, *map(str, folders)], capture_output=True, text=True, check=True
        )
        report = json.loads(done.stdout.strip().splitlines()[-1])
        samples.append(report["ms"])
        count = report["nodes"]
    return samples, count


def row(name: str, samples: list[float], per: int | None = None) -> str:
    deciles = statistics.quantiles(samples, n=10)
    median = statistics.median(samples)
    per_node = f" {median * 1000 / per:.1f} |" if per else ""
    return f"| {name} | {median:.1f} | {deciles[0]:.1f} | {deciles[-1]:.1f} |{per_node}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--startups", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        v3_folder = Path(folder)
        (v3_folder / "bench_v3.py").write_text(V3_PACK)
        registry = core_registry()
        load_custom_nodes([PACK, v3_folder], registry)
        builtin = run_chain(registry, chain(args.nodes, "ImpastoIntMath", {"op": "add"}), args.nodes, args.repeat)
        v1 = run_chain(registry, chain(args.nodes, "TestIntAdd", {}), args.nodes, args.repeat)
        v3 = run_chain(registry, chain(args.nodes, "BenchAddV3", {}), args.nodes, args.repeat)
        empty = Path(folder) / "empty"
        empty.mkdir()
        no_pack, _ = startup([empty], args.startups)
        with_pack, pack_nodes = startup([PACK], args.startups)

    print(f"{args.nodes}-node chain, first run (empty cache), {args.repeat} repeats, Python {sys.version.split()[0]}\n")
    print("| node in the chain | median ms | p10 ms | p90 ms | median µs per node |")
    print("|---|---:|---:|---:|---:|")
    print(row("built-in ImpastoIntMath", builtin, args.nodes))
    print(row("V1 custom node (fixture pack TestIntAdd)", v1, args.nodes))
    print(row("V3 custom node (io.ComfyNode)", v3, args.nodes))
    base = statistics.median(builtin)
    print(
        f"\nratio of medians: V1 custom / built-in {statistics.median(v1) / base:.2f}, "
        f"V3 custom / built-in {statistics.median(v3) / base:.2f}\n"
    )
    print(f"loading custom nodes at start-up, {args.startups} fresh processes each\n")
    print("| custom_nodes folder | median ms | p10 ms | p90 ms |")
    print("|---|---:|---:|---:|")
    print(row("empty", no_pack))
    print(row(f"the fixture pack ({pack_nodes} nodes, 2 packs)", with_pack))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
