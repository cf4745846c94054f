"""Per-item input values of a batch: the frontend's `control_after_generate` rules, server-side (frontend.md §5).

A target is one constant input of one node. Modes: `fixed` (unchanged), `increment` / `decrement` (by the
input's step, clamped to its min/max), `randomize` (a uniform multiple of the step in [min, max)), or an
explicit list of values (a sweep). The range is capped to ±1125899906842624, as in the frontend.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from impasto.graph.catalog import NodeDef

MODES = ("fixed", "increment", "decrement", "randomize")
RANGE_CAP = 1125899906842624
SEED_NAMES = ("seed", "noise_seed")


class SeedSpecError(ValueError):
    """A batch's seed specification cannot be applied to its prompt."""


@dataclass(frozen=True, slots=True)
class Target:
    node_id: str
    input: str
    mode: str
    values: tuple[Any, ...] | None = None  # an explicit sweep, one value per item


def default_targets(prompt: Mapping[str, Any], catalog: Mapping[str, NodeDef], mode: str) -> list[Target]:
    """Every constant INT input named seed or noise_seed, or declared with control_after_generate."""
    targets = []
    for node_id, node in prompt.items():
        node_def = catalog.get(node["class_type"])
        if node_def is None:
            continue
        for name, input_def in node_def.inputs.items():
            value = node["inputs"].get(name)
            wanted = (input_def.type == "INT" and name in SEED_NAMES) or input_def.options.get("control_after_generate")
            if wanted and input_def.type == "INT" and isinstance(value, int) and not isinstance(value, bool):
                targets.append(Target(node_id, name, mode))
    return targets


def parse_targets(
    spec: Any, prompt: Mapping[str, Any], catalog: Mapping[str, NodeDef], count: int
) -> tuple[list[Target], bool]:
    """The targets and whether values change before the first item (`apply: before`)."""
    if spec is None:
        spec = {"mode": "randomize"}
    if not isinstance(spec, dict):
        raise SeedSpecError("seed must be an object")
    mode = spec.get("mode", "randomize")
    if mode not in MODES:
        raise SeedSpecError(f"seed.mode must be one of {', '.join(MODES)}")
    apply = spec.get("apply", "after")
    if apply not in ("after", "before"):
        raise SeedSpecError('seed.apply must be "after" or "before"')
    raw = spec.get("targets")
    if raw is None:
        return default_targets(prompt, catalog, mode), apply == "before"
    if not isinstance(raw, list):
        raise SeedSpecError("seed.targets must be a list")
    targets = []
    for entry in raw:
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("node_id"), str)
            or not isinstance(entry.get("input"), str)
        ):
            raise SeedSpecError("each seed target needs a node_id and an input")
        node = prompt.get(entry["node_id"])
        if node is None or entry["input"] not in node["inputs"]:
            raise SeedSpecError(f"no input {entry['input']!r} on node {entry['node_id']!r}")
        values = entry.get("values")
        if values is not None and (not isinstance(values, list) or len(values) != count):
            raise SeedSpecError(f"values for {entry['node_id']}.{entry['input']} must be a list of {count} values")
        target_mode = entry.get("mode", mode)
        if target_mode not in MODES:
            raise SeedSpecError(f"mode of {entry['node_id']}.{entry['input']} must be one of {', '.join(MODES)}")
        targets.append(Target(entry["node_id"], entry["input"], target_mode, None if values is None else tuple(values)))
    return targets, apply == "before"


def item_values(
    targets: Sequence[Target],
    prompt: Mapping[str, Any],
    catalog: Mapping[str, NodeDef],
    count: int,
    *,
    before: bool,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """For each item, `{"<node_id>.<input>": value}`."""
    items: list[dict[str, Any]] = [{} for _ in range(count)]
    for target in targets:
        key = f"{target.node_id}.{target.input}"
        if target.values is not None:
            for index, value in enumerate(target.values):
                items[index][key] = value
            continue
        node = prompt[target.node_id]
        options = _options(catalog, node["class_type"], target.input)
        value = node["inputs"][target.input]
        if before:
            value = _next(value, target.mode, options, rng)
        for index in range(count):
            items[index][key] = value
            value = _next(value, target.mode, options, rng)
    return items


def _options(catalog: Mapping[str, NodeDef], class_type: str, name: str) -> Mapping[str, Any]:
    node_def = catalog.get(class_type)
    input_def = node_def.inputs.get(name) if node_def is not None else None
    return input_def.options if input_def is not None else {}


def _next(value: Any, mode: str, options: Mapping[str, Any], rng: random.Random) -> Any:
    if mode == "fixed" or not isinstance(value, int | float) or isinstance(value, bool):
        return value
    step = options.get("step", 1) or 1
    low = max(options.get("min", -RANGE_CAP), -RANGE_CAP)
    high = min(options.get("max", RANGE_CAP), RANGE_CAP)
    if mode == "increment":
        result = min(value + step, high)
    elif mode == "decrement":
        result = max(value - step, low)
    else:
        steps = max(1, math.floor((high - low) / step))
        result = low + rng.randrange(steps) * step
    return int(result) if isinstance(value, int) and float(result).is_integer() else result
