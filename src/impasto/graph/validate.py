"""Prompt validation with ComfyUI's rules and error shapes (execution.md §3, http-api.md §3.2).

`validate_prompt` never raises: every problem comes back as data. It needs only the catalog (node
definitions as data) and, for classes with `VALIDATE_INPUTS`, a hook that runs it wherever the
class lives (in-process, or in the node-host process).

The walk is iterative (a 10,000-node chain must not hit the recursion limit) and memoized: each node
is checked once, and a node is valid when it has no error of its own and every source it links to
through a well-formed, type-compatible link is valid.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from impasto.graph.catalog import Catalog, InputDef, NodeDef
from impasto.graph.cycles import find_cycles
from impasto.graph.types import types_compatible
from impasto.protocol.errors import (
    ErrorInfo,
    NodeErrors,
    NodeErrorType,
    PromptErrorType,
    error_info,
    exception_type_name,
)
from impasto.protocol.prompt import Prompt, is_link, link_index, unwrap_value

ValidateResult = bool | str  # True when valid; False or a reason otherwise


@dataclass(frozen=True, slots=True)
class ValidateCall:
    """One VALIDATE_INPUTS call: every argument is a list (the list machinery maps over it)."""

    class_type: str
    node_id: str
    kwargs: dict[str, list[Any]]


ValidateHook = Callable[[ValidateCall], Sequence[ValidateResult]]


class NodeCodeError(Exception):
    """An exception raised by node code, carried with its type name and traceback (possibly from another process)."""

    def __init__(self, message: str, exception_type: str, traceback_lines: list[str]) -> None:
        super().__init__(message)
        self.exception_type = exception_type
        self.traceback_lines = traceback_lines

    @classmethod
    def from_exception(cls, exc: BaseException) -> NodeCodeError:
        if isinstance(exc, NodeCodeError):
            return exc
        return cls(str(exc), exception_type_name(exc), traceback.format_tb(exc.__traceback__))


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """The outcome: `error` is None when at least one output can run."""

    prompt: Prompt  # the validated copy: constants coerced, `__value__` unwrapped
    outputs: list[str]  # output node ids that run, in prompt order
    node_errors: dict[str, NodeErrors]
    error: ErrorInfo | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class _Link:
    input_name: str
    source: str
    input_def: InputDef | None  # None for an undeclared input (passed to the node as a keyword argument)
    value: list[Any]


@dataclass(slots=True)
class _Checked:
    """A node after its own checks."""

    errors: list[ErrorInfo] = field(default_factory=list)
    links: list[_Link] = field(default_factory=list)
    exception: NodeCodeError | None = None


PLACEHOLDERS: dict[str, Callable[[str], Any]] = {
    "PROMPT": lambda _node_id: {},
    "UNIQUE_ID": lambda node_id: node_id,
}


def hidden_placeholder(marker: str, node_id: str) -> Any:
    """The value a hidden input holds outside execution (validation and IS_CHANGED)."""
    make = PLACEHOLDERS.get(marker)
    return None if make is None else make(node_id)


def validate_prompt(
    prompt: object,
    catalog: Catalog,
    hook: ValidateHook | None = None,
    partial_execution_targets: Collection[str] | None = None,
) -> ValidationResult:
    """Validate an API-format prompt. Returns data; never raises."""
    if not isinstance(prompt, dict):
        return _rejected(
            {},
            error_info(
                PromptErrorType.INVALID_PROMPT,
                "Cannot execute because the prompt is not an object of nodes.",
                type(prompt).__name__,
            ),
        )
    copied, problem = _copy_nodes(prompt, catalog)
    if problem is not None:
        return _rejected(copied, problem)
    outputs = [
        node_id
        for node_id, node in copied.items()
        if catalog[node["class_type"]].output_node
        and (partial_execution_targets is None or node_id in partial_execution_targets)
    ]
    if not outputs:
        return _rejected(copied, error_info(PromptErrorType.PROMPT_NO_OUTPUTS, "Prompt has no outputs"))
    return _Validator(copied, catalog, hook).run(outputs)


def _rejected(prompt: Prompt, error: ErrorInfo) -> ValidationResult:
    return ValidationResult(prompt=prompt, outputs=[], node_errors={}, error=error)


def _copy_nodes(prompt: dict[Any, Any], catalog: Catalog) -> tuple[Prompt, ErrorInfo | None]:
    """Copy each node with its own inputs dict; the first structural problem rejects the prompt."""
    copied: Prompt = {}
    for node_id, node in prompt.items():
        details = f"Node ID '#{node_id}'"
        if not isinstance(node_id, str):
            return copied, error_info(PromptErrorType.INVALID_PROMPT, "Node ids must be strings.", details)
        if not isinstance(node, dict) or "class_type" not in node:
            return copied, error_info(
                PromptErrorType.INVALID_PROMPT,
                "Cannot execute because a node is missing the class_type property.",
                details,
            )
        class_type = node["class_type"]
        inputs = node.get("inputs", {})
        if not isinstance(class_type, str):
            return copied, error_info(PromptErrorType.INVALID_PROMPT, "class_type must be a string.", details)
        if not isinstance(inputs, dict) or not all(isinstance(k, str) for k in inputs):
            return copied, error_info(
                PromptErrorType.INVALID_PROMPT, "A node's inputs must be an object keyed by input name.", details
            )
        if class_type not in catalog:
            meta = node.get("_meta")
            title = meta.get("title") if isinstance(meta, dict) else None
            title = title if isinstance(title, str) and title else class_type
            return copied, error_info(
                PromptErrorType.MISSING_NODE_TYPE,
                f"Node '{title}' not found. The custom node may not be installed.",
                details,
                node_id=node_id,
                class_type=class_type,
                node_title=title,
            )
        copied[node_id] = {**node, "inputs": dict(inputs)}  # type: ignore[typeddict-item]  # keys checked above
    return copied, None


class _Validator:
    def __init__(self, prompt: Prompt, catalog: Catalog, hook: ValidateHook | None) -> None:
        self.prompt = prompt
        self.catalog = catalog
        self.hook = hook
        self.checked: dict[str, _Checked] = {}
        self.valid: dict[str, bool] = {}
        self.cycle_errors: dict[str, ErrorInfo] = {}
        self.cycle_members: dict[str, list[str]] = {}

    def run(self, outputs: list[str]) -> ValidationResult:
        for cycle in find_cycles(outputs, self._link_sources):
            ids = sorted(cycle)
            error = error_info(NodeErrorType.DEPENDENCY_CYCLE, "Dependency cycle detected", ", ".join(ids), cycle=ids)
            for node_id in cycle:
                self.cycle_errors[node_id] = error
                self.cycle_members[node_id] = ids
        good: list[str] = []
        failed: list[str] = []
        for output in outputs:
            (good if self._resolve(output) else failed).append(output)
        node_errors = self._node_errors(failed)
        if good:
            return ValidationResult(self.prompt, good, node_errors, None)
        reasons = [f"{e['message']}: {e['details']}" for o in failed for e in self.checked[o].errors]
        error = error_info(
            PromptErrorType.PROMPT_OUTPUTS_FAILED_VALIDATION, "Prompt outputs failed validation", "\n".join(reasons)
        )
        return ValidationResult(self.prompt, [], node_errors, error)

    def _link_sources(self, node_id: str) -> Iterator[str]:
        """Every node this node links to (any link-shaped input, declared or not)."""
        for value in self.prompt[node_id]["inputs"].values():
            if is_link(value) and value[0] in self.prompt:
                yield value[0]

    def _resolve(self, root: str) -> bool:
        """Validity of `root`, checking upstream nodes first, without recursion."""
        stack: list[tuple[str, Iterator[_Link]]] = [(root, iter(self._check(root).links))]
        while stack:
            node_id, links = stack[-1]
            for link in links:
                source = self._check(link.source)
                if source.exception is not None and link.source not in self.valid:
                    self._blame_inner(link)
                if link.source not in self.valid:
                    stack.append((link.source, iter(source.links)))
                    break
            else:
                stack.pop()
                checked = self.checked[node_id]
                if checked.exception is not None and node_id not in self.valid:
                    checked.errors = [_exception_error(checked.exception)]
                self.valid[node_id] = not checked.errors and all(self.valid[link.source] for link in checked.links)
        return self.valid[root]

    def _blame_inner(self, link: _Link) -> None:
        """An upstream VALIDATE_INPUTS raised: the error sits on that node, naming the consumer's input."""
        source = self.checked[link.source]
        assert source.exception is not None
        exc = source.exception
        source.errors = [
            error_info(
                NodeErrorType.EXCEPTION_DURING_INNER_VALIDATION,
                "Exception when validating inner node",
                str(exc),
                input_name=link.input_name,
                input_config=None if link.input_def is None else link.input_def.config,
                exception_message=str(exc),
                exception_type=exc.exception_type,
                traceback=exc.traceback_lines,
                linked_node=link.value,
            )
        ]
        source.links = []
        self.valid[link.source] = False

    def _check(self, node_id: str) -> _Checked:
        checked = self.checked.get(node_id)
        if checked is None:
            checked = self.checked[node_id] = self._check_node(node_id)
        return checked

    def _check_node(self, node_id: str) -> _Checked:
        node = self.prompt[node_id]
        node_def = self.catalog[node["class_type"]]
        checked = _Checked()
        if node_id in self.cycle_errors:
            checked.errors.append(self.cycle_errors[node_id])
            return checked
        inputs = node["inputs"]
        spec = node_def.validate
        received_types: dict[str, Any] = {}
        for name, input_def in node_def.inputs.items():
            if name not in inputs:
                if input_def.section == "required":
                    checked.errors.append(
                        error_info(
                            NodeErrorType.REQUIRED_INPUT_MISSING, "Required input is missing", name, input_name=name
                        )
                    )
                continue
            value = inputs[name]
            if isinstance(value, list):
                self._check_link(node_def, input_def, value, checked, received_types)
                continue
            error = _check_constant(inputs, input_def, claimed=spec is not None and spec.claims(name))
            if error is not None:
                checked.errors.append(error)
        for name, value in inputs.items():
            # an undeclared link is not checked, but its source runs, so it must be valid too
            if name not in node_def.inputs and is_link(value) and value[0] in self.prompt:
                checked.links.append(_Link(name, value[0], None, value))
        if spec is not None and self.hook is not None:
            self._call_validate(node_id, node_def, received_types, checked)
        return checked

    def _check_link(
        self,
        node_def: NodeDef,
        input_def: InputDef,
        value: list[Any],
        checked: _Checked,
        received_types: dict[str, Any],
    ) -> None:
        name = input_def.name
        source_def = None
        index = None
        if is_link(value) and value[0] in self.prompt:
            source_def = self.catalog[self.prompt[value[0]]["class_type"]]
            index = link_index(value)
        if source_def is None or index is None or not 0 <= index < len(source_def.outputs):
            checked.errors.append(
                error_info(
                    NodeErrorType.BAD_LINKED_INPUT,
                    "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                    name,
                    input_name=name,
                    input_config=input_def.config,
                    received_value=value,
                )
            )
            return
        received = source_def.outputs[index]
        received_types[name] = received
        checks_types = node_def.validate is None or not node_def.validate.takes_input_types
        compatible = input_def.accepts_any or index in source_def.any_outputs
        if checks_types and not compatible and not types_compatible(received, input_def.type):
            checked.errors.append(
                error_info(
                    NodeErrorType.RETURN_TYPE_MISMATCH,
                    "Return type mismatch between linked nodes",
                    f"{name}, received_type({received}) mismatch input_type({input_def.type})",
                    input_name=name,
                    input_config=input_def.config,
                    received_type=received,
                    linked_node=value,
                )
            )
            return
        checked.links.append(_Link(name, value[0], input_def, value))

    def _call_validate(
        self, node_id: str, node_def: NodeDef, received_types: dict[str, Any], checked: _Checked
    ) -> None:
        assert node_def.validate is not None and self.hook is not None
        spec = node_def.validate
        inputs = self.prompt[node_id]["inputs"]
        kwargs: dict[str, list[Any]] = {}
        for name, value in inputs.items():
            if not spec.claims(name):
                continue
            if is_link(value):
                kwargs[name] = [None]
            elif name in node_def.inputs:
                kwargs[name] = [value]
        for name, marker in node_def.hidden.items():
            if spec.claims(name):
                kwargs[name] = [hidden_placeholder(marker, node_id)]
        if spec.takes_input_types:
            kwargs["input_types"] = [received_types]
        try:
            results = list(self.hook(ValidateCall(node_def.class_type, node_id, kwargs)))
        except Exception as exc:
            checked.exception = NodeCodeError.from_exception(exc)
            return
        for result in results:
            if result is True:
                continue
            reason = "" if result is False else str(result)
            args: list[str | None] = list(kwargs) or [None]
            for arg in args:
                details = (arg or "") + (f" - {reason}" if reason and arg else reason)
                checked.errors.append(
                    error_info(
                        NodeErrorType.CUSTOM_VALIDATION_FAILED,
                        "Custom validation failed for node",
                        details,
                        input_name=arg,
                    )
                )

    def _node_errors(self, failed_outputs: list[str]) -> dict[str, NodeErrors]:
        """Nodes with errors of their own, each with the failed outputs whose subtree contains it."""
        node_errors: dict[str, NodeErrors] = {}
        for output in failed_outputs:
            seen = {output}
            todo = [output]
            while todo:
                node_id = todo.pop()
                checked = self._check(node_id)
                if checked.errors:
                    entry = node_errors.setdefault(
                        node_id,
                        {
                            "errors": checked.errors,
                            "dependent_outputs": [],
                            "class_type": self.prompt[node_id]["class_type"],
                        },
                    )
                    entry["dependent_outputs"].append(output)
                # a cycle node links nowhere of its own; the rest of its cycle is reached through it
                sources = [link.source for link in checked.links] + self.cycle_members.get(node_id, [])
                for source in sources:
                    if source not in seen:
                        seen.add(source)
                        todo.append(source)
        return node_errors


def _exception_error(exc: NodeCodeError) -> ErrorInfo:
    return error_info(
        NodeErrorType.EXCEPTION_DURING_VALIDATION,
        "Exception when validating node",
        str(exc),
        exception_type=exc.exception_type,
        traceback=exc.traceback_lines,
    )


_COERCE: dict[str, Callable[[Any], Any]] = {"INT": int, "FLOAT": float, "STRING": str, "BOOLEAN": bool}


def _check_constant(inputs: dict[str, Any], input_def: InputDef, *, claimed: bool) -> ErrorInfo | None:
    """Unwrap, coerce (writing the result back into `inputs`) and range-check one constant."""
    name = input_def.name
    value = unwrap_value(inputs[name])
    inputs[name] = value
    coerce = _COERCE.get(input_def.type) if isinstance(input_def.type, str) else None
    if coerce is not None:
        try:
            value = coerce(value)
        except Exception as exc:
            return error_info(
                NodeErrorType.INVALID_INPUT_TYPE,
                f"Failed to convert an input value to a {input_def.type} value",
                f"{name}, {_text(value)}, {exc}",
                input_name=name,
                input_config=input_def.config,
                received_value=value,
                exception_message=str(exc),
            )
        inputs[name] = value
    if claimed:
        return None
    options = input_def.options
    if "min" in options and _compares(lambda: value < options["min"]):
        return error_info(
            NodeErrorType.VALUE_SMALLER_THAN_MIN,
            f"Value {_text(value)} smaller than min of {_text(options['min'])}",
            name,
            input_name=name,
            input_config=input_def.config,
            received_value=value,
        )
    if "max" in options and _compares(lambda: value > options["max"]):
        return error_info(
            NodeErrorType.VALUE_BIGGER_THAN_MAX,
            f"Value {_text(value)} bigger than max of {_text(options['max'])}",
            name,
            input_name=name,
            input_config=input_def.config,
            received_value=value,
        )
    combo = input_def.combo_options
    if combo is not None and value not in combo:
        long_list = len(combo) > 20
        listing = f"(list of length {len(combo)})" if long_list else _text(combo)
        return error_info(
            NodeErrorType.VALUE_NOT_IN_LIST,
            "Value not in list",
            f"{name}: '{_text(value)}' not in {listing}",
            input_name=name,
            input_config=None if long_list else input_def.config,
            received_value=value,
        )
    return None


def _compares(test: Callable[[], Any]) -> bool:
    """A range test; a bound that cannot be compared with the value is not a violation."""
    try:
        return bool(test())
    except TypeError:
        return False


def _text(value: Any) -> str:
    """A value as message text; one that cannot be written (an int past the digit limit) by its type."""
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"
