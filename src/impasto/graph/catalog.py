"""Node definitions as data: what validation needs to know about a class, built from its object_info.

The torch-free server validates prompts from this catalog alone; whatever needs the class itself
(`VALIDATE_INPUTS`) goes through a hook (see `validate.py`). A catalog entry is plain JSON so it can
cross a process boundary and be kept on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

Section = Literal["required", "optional"]


class ValidateSpecJson(TypedDict):
    params: list[str]
    var_kwargs: bool


class CatalogEntryJson(TypedDict):
    """One class: its object_info plus what the server cannot read from object_info."""

    object_info: dict[str, Any]
    validate: ValidateSpecJson | None
    any_inputs: list[str]  # inputs whose declared type never differs from anything (custom `__ne__`)
    any_outputs: list[int]  # output slots whose type never differs from anything


@dataclass(frozen=True, slots=True)
class ValidateSpec:
    """The parameter names of a class's VALIDATE_INPUTS (they decide what it validates)."""

    params: frozenset[str]
    var_kwargs: bool

    @property
    def takes_input_types(self) -> bool:
        return "input_types" in self.params

    def claims(self, input_name: str) -> bool:
        """Whether VALIDATE_INPUTS receives this input, so the server skips its own range checks."""
        return self.var_kwargs or input_name in self.params


@dataclass(frozen=True, slots=True)
class InputDef:
    name: str
    type: Any  # a type name, or the list of options of a combo
    options: Mapping[str, Any]
    section: Section
    accepts_any: bool = False

    @property
    def config(self) -> list[Any]:
        """The declaration as ComfyUI reports it in errors (`input_config`)."""
        return [self.type, dict(self.options)]

    @property
    def combo_options(self) -> list[Any] | None:
        if isinstance(self.type, list):
            return self.type
        if self.type == "COMBO":
            options = self.options.get("options", [])
            return list(options) if isinstance(options, list | tuple) else []
        return None

    @property
    def lazy(self) -> bool:
        return bool(self.options.get("lazy", False))

    @property
    def raw_link(self) -> bool:
        return bool(self.options.get("rawLink", False))


@dataclass(frozen=True, slots=True)
class NodeDef:
    class_type: str
    inputs: Mapping[str, InputDef]  # required then optional, in declaration order
    hidden: Mapping[str, str]  # input name -> marker (PROMPT, UNIQUE_ID, ...)
    outputs: tuple[Any, ...]
    any_outputs: frozenset[int]
    output_node: bool
    input_is_list: bool
    validate: ValidateSpec | None
    category: str = ""  # as object_info reports it, e.g. "loaders"

    @classmethod
    def from_entry(cls, class_type: str, entry: CatalogEntryJson) -> NodeDef:
        info = entry["object_info"]
        declared = info.get("input") or {}
        any_inputs = set(entry.get("any_inputs", ()))
        inputs: dict[str, InputDef] = {}
        section: Section
        for section in ("required", "optional"):
            for name, decl in (declared.get(section) or {}).items():
                inputs[name] = _input_def(name, decl, section, name in any_inputs)
        hidden = {str(k): str(v) for k, v in (declared.get("hidden") or {}).items()}
        spec = entry.get("validate")
        return cls(
            class_type=class_type,
            inputs=inputs,
            hidden=hidden,
            outputs=tuple(info.get("output") or ()),
            any_outputs=frozenset(entry.get("any_outputs", ())),
            output_node=bool(info.get("output_node", False)),
            input_is_list=bool(info.get("is_input_list", False)),
            validate=None if spec is None else ValidateSpec(frozenset(spec["params"]), bool(spec["var_kwargs"])),
            category=str(info.get("category") or ""),
        )


def _input_def(name: str, decl: Any, section: Section, accepts_any: bool) -> InputDef:
    if isinstance(decl, list | tuple) and decl:
        type_ = decl[0]
        options = decl[1] if len(decl) > 1 and isinstance(decl[1], dict) else {}
    else:
        type_, options = decl, {}
    if isinstance(type_, tuple):
        type_ = list(type_)
    return InputDef(name=name, type=type_, options=options, section=section, accepts_any=accepts_any)


Catalog = Mapping[str, NodeDef]


def catalog_from_json(entries: Mapping[str, CatalogEntryJson]) -> dict[str, NodeDef]:
    return {name: NodeDef.from_entry(name, entry) for name, entry in entries.items()}
