"""A UI-format workflow (what the frontend saves and embeds in images) to an API-format prompt (frontend.md §10).

The conversion works from node definitions as data (`/object_info`), so it runs in a command-line client that
talks to a remote server as well as next to an embedded one. It follows what the frontend's `graphToPrompt`
does: widget values become inputs in the definition's input order (the `control_after_generate` value that
follows a seed is kept aside, not sent), links become `[origin id, slot]`, muted nodes (mode 2) are left out,
bypassed nodes (mode 4) pass an input of the same type through, reroutes are followed, primitive nodes give
their value to their targets, notes are skipped, and subgraph nodes are flattened into `outer:inner` ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from impasto.graph.catalog import InputDef, NodeDef
from impasto.protocol.prompt import VALUE_KEY, Prompt, PromptNode

MODE_NEVER = 2  # muted: the node and what only it feeds do not run
MODE_BYPASS = 4  # bypassed: an input of the output's type passes through
VIRTUAL_TYPES = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize", "increment-wrap"})
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
UPLOAD_OPTIONS = {"image_upload": "image", "video_upload": "video", "audio_upload": "audio"}
SUBGRAPH_INPUT = -10  # origin id of links from a subgraph's input node
SUBGRAPH_OUTPUT = -20  # target id of links to a subgraph's output node


class UiWorkflowError(ValueError):
    """The workflow cannot be converted; `missing` names node types the server does not have."""

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)


@dataclass(frozen=True, slots=True)
class Conversion:
    """The prompt, and the `control_after_generate` mode saved for each seed-like input (`"<id>.<input>"`)."""

    prompt: Prompt
    controls: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Link:
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: Any


@dataclass(frozen=True, slots=True)
class _Ref:
    node_id: str
    slot: int


@dataclass(frozen=True, slots=True)
class _Const:
    value: Any
    control: str | None = None


_UNLINKED = object()  # no source: the input keeps its own widget value
_DROPPED = object()  # the source does not run: the input is left out


@dataclass(slots=True)
class _Scope:
    """One graph level: the root workflow, or the inside of one subgraph node."""

    prefix: str
    nodes: dict[str, dict[str, Any]]
    links: dict[int, _Link]
    parent: _Scope | None = None
    host: dict[str, Any] | None = None  # the subgraph node in the parent scope


def is_ui_workflow(data: object) -> bool:
    """True for the frontend's saved shape: an object with a `nodes` list (API prompts map ids to nodes)."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def node_defs(object_info: Mapping[str, Any]) -> dict[str, NodeDef]:
    """Typed definitions from `/object_info` (nothing about VALIDATE_INPUTS is needed here)."""
    return {
        name: NodeDef.from_entry(name, {"object_info": info, "validate": None, "any_inputs": [], "any_outputs": []})
        for name, info in object_info.items()
        if isinstance(info, dict)
    }


def ui_to_api(workflow: Mapping[str, Any], object_info: Mapping[str, Any]) -> Conversion:
    """Convert a saved UI workflow; raises UiWorkflowError listing every node type the server lacks."""
    if not is_ui_workflow(workflow):
        raise UiWorkflowError("not a UI workflow: it has no nodes list")
    return _Converter(workflow, object_info).run()


class _Converter:
    def __init__(self, workflow: Mapping[str, Any], object_info: Mapping[str, Any]) -> None:
        self.defs = node_defs(object_info)
        self.display = {
            name: str(info.get("display_name") or name) for name, info in object_info.items() if isinstance(info, dict)
        }
        definitions = workflow.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        self.subgraphs = {
            str(sub["id"]): sub for sub in (subgraphs or []) if isinstance(sub, dict) and isinstance(sub.get("id"), str)
        }
        self.root = _Scope("", _nodes(workflow.get("nodes")), _links(workflow.get("links")))
        self.prompt: Prompt = {}
        self.controls: dict[str, str] = {}
        self.missing: dict[str, None] = {}

    def run(self) -> Conversion:
        for scope, node in self._active_nodes(self.root, depth=0):
            self._emit(scope, node)
        if self.missing:
            names = ", ".join(self.missing)
            raise UiWorkflowError(f"the server has no node type {names}", list(self.missing))
        return Conversion(self.prompt, self.controls)

    def _active_nodes(self, scope: _Scope, depth: int) -> Iterator[tuple[_Scope, dict[str, Any]]]:
        if depth > 32:
            raise UiWorkflowError("subgraphs nest more than 32 levels deep (a subgraph contains itself?)")
        for node in scope.nodes.values():
            if node.get("mode") in (MODE_NEVER, MODE_BYPASS) or node.get("type") in VIRTUAL_TYPES:
                continue
            inner = self._inner_scope(scope, node)
            if inner is not None:
                yield from self._active_nodes(inner, depth + 1)
            elif str(node.get("type")) not in self.defs:
                self.missing[str(node.get("type"))] = None
            else:
                yield scope, node

    def _inner_scope(self, scope: _Scope, node: dict[str, Any]) -> _Scope | None:
        sub = self.subgraphs.get(str(node.get("type")))
        if sub is None:
            return None
        prefix = f"{scope.prefix}{node['id']}:"
        return _Scope(prefix, _nodes(sub.get("nodes")), _links(sub.get("links")), scope, node)

    def _emit(self, scope: _Scope, node: dict[str, Any]) -> None:
        class_type = str(node["type"])
        node_def = self.defs[class_type]
        node_id = f"{scope.prefix}{node['id']}"
        values, controls = widget_values(node, node_def)
        slots = {str(slot.get("name")): slot for slot in node.get("inputs") or [] if isinstance(slot, dict)}
        inputs: dict[str, Any] = {}
        for name in [*node_def.inputs, *(n for n in slots if n not in node_def.inputs)]:
            slot = slots.get(name)
            link = slot.get("link") if slot is not None else None
            source = self._resolve(scope, link, 0) if isinstance(link, int) else _UNLINKED
            if source is _DROPPED:
                continue
            if isinstance(source, _Ref):
                inputs[name] = [source.node_id, source.slot]
            elif isinstance(source, _Const):
                inputs[name] = _wrap(source.value)
                if source.control is not None:
                    self.controls[f"{node_id}.{name}"] = source.control
            elif name in values:
                inputs[name] = _wrap(values[name])
                if name in controls:
                    self.controls[f"{node_id}.{name}"] = controls[name]
        title = node.get("title")
        entry: PromptNode = {
            "class_type": class_type,
            "inputs": inputs,
            "_meta": {"title": title if isinstance(title, str) and title else self.display.get(class_type, class_type)},
        }
        self.prompt[node_id] = entry

    def _resolve(self, scope: _Scope, link_id: int, depth: int) -> object:
        """What feeds a link: a node output, a constant (primitive or promoted widget), or nothing."""
        if depth > 256:
            raise UiWorkflowError("links form a loop through reroutes or bypassed nodes")
        link = scope.links.get(link_id)
        if link is None:
            return _DROPPED  # a dangling link id: the frontend drops it too
        if link.origin_id == SUBGRAPH_INPUT:
            return self._from_host(scope, link.origin_slot, depth)
        origin = scope.nodes.get(str(link.origin_id))
        if origin is None or origin.get("mode") == MODE_NEVER:
            return _DROPPED
        kind = origin.get("type")
        if kind == "Reroute":
            return self._follow(scope, _input_link(origin, 0), depth)
        if kind == "PrimitiveNode":
            raw = origin.get("widgets_values")
            if not isinstance(raw, list) or not raw:
                return _DROPPED
            control = raw[1] if len(raw) > 1 and raw[1] in CONTROL_VALUES else None
            return _Const(raw[0], control)
        if origin.get("mode") == MODE_BYPASS:
            return self._follow(scope, _pass_through(origin, link), depth)
        inner = self._inner_scope(scope, origin)
        if inner is not None:
            for inner_id, inner_link in inner.links.items():
                if inner_link.target_id == SUBGRAPH_OUTPUT and inner_link.target_slot == link.origin_slot:
                    return self._resolve(inner, inner_id, depth + 1)
            return _DROPPED
        return _Ref(f"{scope.prefix}{origin['id']}", link.origin_slot)

    def _follow(self, scope: _Scope, link_id: int | None, depth: int) -> object:
        return _DROPPED if link_id is None else self._resolve(scope, link_id, depth + 1)

    def _from_host(self, scope: _Scope, slot: int, depth: int) -> object:
        """A subgraph input: the host node's link at that slot, else the host's promoted widget value."""
        host, parent = scope.host, scope.parent
        if host is None or parent is None:
            return _DROPPED
        link = _input_link(host, slot)
        if link is not None:
            return self._resolve(parent, link, depth + 1)
        inputs = [s for s in host.get("inputs") or [] if isinstance(s, dict)]
        if slot >= len(inputs) or "widget" not in inputs[slot]:
            return _UNLINKED
        name = str(inputs[slot].get("name"))
        named = host.get("widgets_values_named")
        if isinstance(named, dict) and name in named:
            return _Const(named[name])
        raw = host.get("widgets_values")
        position = sum(1 for s in inputs[:slot] if "widget" in s)
        if isinstance(raw, list) and position < len(raw):
            return _Const(raw[position])
        return _UNLINKED


def widget_values(node: Mapping[str, Any], node_def: NodeDef) -> tuple[dict[str, Any], dict[str, str]]:
    """A node's widget values by input name, and the control mode saved after each seed-like one.

    `widgets_values` is positional over the node's widgets in input order, with a control value after each
    seed-like input and an upload button's value after an upload combo. 1.58.1 also saves
    `widgets_values_named`, which wins where it names an input (some nodes save a dict in `widgets_values`).
    """
    raw = node.get("widgets_values")
    named = node.get("widgets_values_named")
    if isinstance(raw, dict):
        named, raw = raw, []
    positional = raw if isinstance(raw, list) else []
    slots = {str(s.get("name")): s for s in node.get("inputs") or [] if isinstance(s, dict)}
    values: dict[str, Any] = {}
    controls: dict[str, str] = {}
    index = 0
    for name, input_def in node_def.inputs.items():
        if not _is_widget(input_def, slots.get(name)) or index >= len(positional):
            continue
        values[name] = positional[index]
        index += 1
        follower = positional[index] if index < len(positional) else None
        if has_control(input_def) and follower in CONTROL_VALUES:
            controls[name] = str(follower)
            index += 1
        elif any(input_def.options.get(o) and follower == v for o, v in UPLOAD_OPTIONS.items()):
            index += 1
    if isinstance(named, dict):
        values.update({name: named[name] for name in node_def.inputs if name in named})
        seeded = [name for name, d in node_def.inputs.items() if has_control(d) and name in values]
        control = named.get("control_after_generate")
        if len(seeded) == 1 and control in CONTROL_VALUES:
            controls[seeded[0]] = str(control)
    return values, controls


def has_control(input_def: InputDef) -> bool:
    """Whether the frontend gives this input a `control_after_generate` widget (frontend.md §5)."""
    if input_def.options.get("control_after_generate"):
        return True
    return input_def.type == "INT" and input_def.name in ("seed", "noise_seed")


def _is_widget(input_def: InputDef, slot: Mapping[str, Any] | None) -> bool:
    if slot is not None and isinstance(slot.get("widget"), dict):
        return True
    if input_def.options.get("forceInput"):
        return False
    return isinstance(input_def.type, list) or input_def.type in WIDGET_TYPES


def _wrap(value: Any) -> Any:
    return {VALUE_KEY: value} if isinstance(value, list) else value


def _input_link(node: Mapping[str, Any], slot: int) -> int | None:
    inputs = node.get("inputs") or []
    if 0 <= slot < len(inputs) and isinstance(inputs[slot], dict):
        link = inputs[slot].get("link")
        return link if isinstance(link, int) else None
    return None


def _pass_through(node: Mapping[str, Any], link: _Link) -> int | None:
    """The input a bypassed node passes on: the same slot if its type fits, else the first that fits."""
    inputs = [s for s in node.get("inputs") or [] if isinstance(s, dict)]

    def fits(slot: Mapping[str, Any]) -> bool:
        same = slot.get("type") == link.type or "*" in (slot.get("type"), link.type)
        return same and isinstance(slot.get("link"), int)

    if link.origin_slot < len(inputs) and fits(inputs[link.origin_slot]):
        return int(inputs[link.origin_slot]["link"])
    return next((int(s["link"]) for s in inputs if fits(s)), None)


def _nodes(raw: object) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, list):
        raise UiWorkflowError("the workflow's nodes must be a list")
    nodes = {}
    for node in raw:
        if not isinstance(node, dict) or "id" not in node or not isinstance(node.get("type"), str):
            raise UiWorkflowError(f"a node without an id or type: {str(node)[:80]}")
        nodes[str(node["id"])] = node
    return nodes


def _links(raw: object) -> dict[int, _Link]:
    """Links of schema 0.4 (`[id, origin, slot, target, slot, type]`) or 1 and subgraphs (objects)."""
    links: dict[int, _Link] = {}
    for entry in raw if isinstance(raw, list) else []:
        if isinstance(entry, list) and len(entry) >= 6:
            link_id, origin, origin_slot, target, target_slot, type_ = entry[:6]
        elif isinstance(entry, dict):
            link_id, origin, origin_slot = entry.get("id"), entry.get("origin_id"), entry.get("origin_slot")
            target, target_slot, type_ = entry.get("target_id"), entry.get("target_slot"), entry.get("type")
        else:
            raise UiWorkflowError(f"a link that is neither a list of 6 nor an object: {str(entry)[:80]}")
        if not isinstance(link_id, int) or not isinstance(origin_slot, int) or not isinstance(target_slot, int):
            raise UiWorkflowError(f"a link with a non-integer id or slot: {str(entry)[:80]}")
        links[link_id] = _Link(origin, origin_slot, target, target_slot, type_)
    return links
