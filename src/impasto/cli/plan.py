"""From WORKFLOW and the server's node definitions to the jobs `impasto run` queues.

The prompt comes from the file (a UI workflow is converted), `--set` overrides are applied, and each of the
`--batch` jobs gets its seed values by the frontend's `control_after_generate` rules (`graph/seeds.py`):
`--seed fixed|increment|decrement|randomize` for every seed input, `--seed N` to start every seed at N and
count up, and without `--seed` the mode a UI workflow saved next to each seed (else `randomize`).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from impasto.cli.output import CommandError
from impasto.cli.workflow_file import WorkflowFile
from impasto.graph.catalog import NodeDef
from impasto.graph.seeds import MODES, Target, default_targets, item_values
from impasto.graph.ui_convert import UiWorkflowError, node_defs, ui_to_api
from impasto.protocol.prompt import is_link
from impasto.protocol.workflow import show_item_values


@dataclass(frozen=True, slots=True)
class Item:
    """One job to queue: its prompt, extra data and the seed values it was given (`"<id>.<input>"`)."""

    index: int
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Plan:
    items: list[Item]
    titles: dict[str, str]  # node id -> what the UI calls it
    needed: frozenset[str]  # the nodes the outputs need (what a job's node bar counts)
    seed_inputs: list[str] = field(default_factory=list)


def make_plan(
    source: WorkflowFile,
    object_info: Mapping[str, Any],
    *,
    batch: int,
    seed: str | None,
    overrides: Sequence[str],
    rng: random.Random | None = None,
) -> Plan:
    if batch < 1:
        raise CommandError("--batch must be at least 1")
    defs = node_defs(object_info)
    controls: dict[str, str] = {}
    if source.prompt is not None:
        prompt = copy.deepcopy(source.prompt)
    else:
        assert source.workflow is not None
        try:
            conversion = ui_to_api(source.workflow, object_info)
        except UiWorkflowError as exc:
            raise CommandError(f"{source.path}: {exc}") from None
        prompt, controls = conversion.prompt, conversion.controls
    missing = sorted({node["class_type"] for node in prompt.values() if node["class_type"] not in defs})
    if missing:
        raise CommandError(f"the server has no node type {', '.join(missing)} (needed by {source.path})")
    titles = {node_id: _title(node) for node_id, node in prompt.items()}
    for override in overrides:
        apply_override(prompt, defs, titles, override)
    targets = seed_targets(prompt, defs, seed, controls)
    values = item_values(targets, prompt, defs, batch, before=False, rng=rng or random.Random())
    extra: dict[str, Any] = {}
    if source.workflow is not None:
        extra["extra_pnginfo"] = {"workflow": source.workflow}
    items = []
    for index, item_values_ in enumerate(values):
        item_prompt = copy.deepcopy(prompt)
        for key, value in item_values_.items():
            node_id, _, name = key.rpartition(".")
            item_prompt[node_id]["inputs"][name] = value
        item_extra = copy.deepcopy(extra)
        show_item_values(item_extra, item_values_)
        items.append(Item(index, item_prompt, item_extra, item_values_))
    seeded = [f"{t.node_id}.{t.input}" for t in targets]
    return Plan(items, titles, needed_nodes(prompt, defs), seeded)


def seed_targets(
    prompt: dict[str, Any], defs: Mapping[str, NodeDef], seed: str | None, controls: Mapping[str, str]
) -> list[Target]:
    """Every seed-like constant input, with its mode; `--seed N` also sets each to N."""
    if seed is None:
        found = default_targets(prompt, defs, "randomize")
        return [Target(t.node_id, t.input, _mode(controls.get(f"{t.node_id}.{t.input}"))) for t in found]
    if seed in MODES:
        return default_targets(prompt, defs, seed)
    try:
        start = int(seed)
    except ValueError:
        raise CommandError(f"--seed must be one of {', '.join(MODES)} or a whole number, not {seed!r}") from None
    found = default_targets(prompt, defs, "increment")
    for target in found:
        prompt[target.node_id]["inputs"][target.input] = start
    return found


def _mode(saved: str | None) -> str:
    if saved == "increment-wrap":
        return "increment"
    return saved if saved in MODES else "randomize"


def apply_override(prompt: dict[str, Any], defs: Mapping[str, NodeDef], titles: Mapping[str, str], text: str) -> None:
    """`NODE.INPUT=VALUE`, NODE an id or a title; the value is JSON for numbers and booleans, text otherwise."""
    key, sep, raw = text.partition("=")
    node_ref, dot, name = key.rpartition(".")
    if not sep or not dot or not node_ref or not name:
        raise CommandError(f"--set wants NODE.INPUT=VALUE, not {text!r}")
    node_id = _find_node(prompt, titles, node_ref)
    node = prompt[node_id]
    node_def = defs[node["class_type"]]
    input_def = node_def.inputs.get(name)
    if input_def is None and name not in node["inputs"]:
        known = ", ".join(node_def.inputs) or "none"
        raise CommandError(
            f"--set {text}: node {node_id} ({node['class_type']}) has no input {name!r} (it has {known})"
        )
    kind = input_def.type if input_def is not None else None
    node["inputs"][name] = raw if kind == "STRING" or (isinstance(kind, list) and _is_text(raw, kind)) else _value(raw)


def _find_node(prompt: Mapping[str, Any], titles: Mapping[str, str], ref: str) -> str:
    if ref in prompt:
        return ref
    matches = [node_id for node_id, title in titles.items() if title == ref]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CommandError(f"--set: several nodes are titled {ref!r} ({', '.join(matches)}); name one by id")
    raise CommandError(f"--set: no node with id or title {ref!r}")


def _is_text(raw: str, options: list[Any]) -> bool:
    return raw in options or all(isinstance(o, str) for o in options)


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _title(node: Mapping[str, Any]) -> str:
    meta = node.get("_meta")
    title = meta.get("title") if isinstance(meta, dict) else None
    return title if isinstance(title, str) and title else str(node["class_type"])


def needed_nodes(prompt: Mapping[str, Any], defs: Mapping[str, NodeDef]) -> frozenset[str]:
    """The output nodes and everything they link to, as the server will run them."""
    stack = [node_id for node_id, node in prompt.items() if defs[node["class_type"]].output_node]
    seen: set[str] = set()
    while stack:
        node_id = stack.pop()
        if node_id in seen or node_id not in prompt:
            continue
        seen.add(node_id)
        stack.extend(str(v[0]) for v in prompt[node_id].get("inputs", {}).values() if is_link(v))
    return frozenset(seen)
