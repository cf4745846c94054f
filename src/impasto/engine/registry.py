"""The node registry: V1 classes by class_type, their `/object_info` and their catalog entries (node-api.md §1-2)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from impasto.graph.catalog import CatalogEntryJson, NodeDef, ValidateSpecJson

log = logging.getLogger(__name__)

_PROBE = "\x00impasto-type-probe"


class RegistrationError(ValueError):
    """A class that cannot be used as a node (no callable INPUT_TYPES, no RETURN_TYPES, no FUNCTION method)."""


class NodeRegistry:
    """Node classes by class_type, with display names. The first registration of a name wins."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}
        self._display_names: dict[str, str] = {}

    def register(self, class_type: str, cls: type, display_name: str | None = None) -> None:
        """Add a class. Raises RegistrationError for a class that could never run."""
        problem = _class_problem(cls)
        if problem is not None:
            raise RegistrationError(f"node class {class_type!r} skipped: {problem}")
        if class_type in self._classes:
            raise RegistrationError(f"node class {class_type!r} is already registered")
        self._classes[class_type] = cls
        if display_name is not None:
            self._display_names[class_type] = display_name

    def register_mappings(
        self, classes: Mapping[str, type], display_names: Mapping[str, str] | None = None, source: str = ""
    ) -> list[str]:
        """Register a pack's NODE_CLASS_MAPPINGS; logs and skips what cannot be registered. Returns the names added."""
        added = []
        for name, cls in classes.items():
            try:
                self.register(name, cls, (display_names or {}).get(name))
            except RegistrationError as exc:
                log.warning("%s%s", f"{source}: " if source else "", exc)
                continue
            added.append(name)
        return added

    def __contains__(self, class_type: object) -> bool:
        return class_type in self._classes

    def names(self) -> Iterable[str]:
        return self._classes.keys()

    def get_class(self, class_type: str) -> Any:
        return self._classes[class_type]

    def object_info(self, class_type: str) -> dict[str, Any]:
        """The `/object_info` entry of one class; INPUT_TYPES is called afresh (combo lists are live)."""
        return _object_info(class_type, self._classes[class_type], self._display_names.get(class_type))

    def all_object_info(self) -> dict[str, dict[str, Any]]:
        """Every class's entry; a class whose members raise is logged and left out."""
        return {name: entry["object_info"] for name, entry in self.catalog_entries().items()}

    def catalog_entry(self, class_type: str) -> CatalogEntryJson:
        cls = self._classes[class_type]
        info = self.object_info(class_type)
        declared = cls.INPUT_TYPES()  # type: ignore[attr-defined]  # checked at registration
        any_inputs = [
            name
            for section in ("required", "optional")
            for name, decl in (declared.get(section) or {}).items()
            if _accepts_any(decl[0] if isinstance(decl, tuple | list) and decl else decl)
        ]
        any_outputs = [i for i, t in enumerate(getattr(cls, "RETURN_TYPES", ())) if _accepts_any(t)]
        return {
            "object_info": info,
            "validate": _validate_spec(cls),
            "any_inputs": any_inputs,
            "any_outputs": any_outputs,
        }

    def catalog_entries(self) -> dict[str, CatalogEntryJson]:
        entries = {}
        for name in self._classes:
            try:
                entries[name] = self.catalog_entry(name)
            except Exception:
                log.exception("node class %r left out of object_info: its definition raised", name)
        return entries

    def catalog(self) -> dict[str, NodeDef]:
        return {name: NodeDef.from_entry(name, entry) for name, entry in self.catalog_entries().items()}


def _class_problem(cls: Any) -> str | None:
    if not callable(getattr(cls, "INPUT_TYPES", None)):
        return "it has no callable INPUT_TYPES"
    if not hasattr(cls, "RETURN_TYPES"):
        return "it has no RETURN_TYPES"
    function = getattr(cls, "FUNCTION", None)
    if not isinstance(function, str) or not callable(getattr(cls, function, None)):
        return f"its FUNCTION {function!r} is not a method of the class"
    return None


def _object_info(class_type: str, cls: Any, display_name: str | None) -> dict[str, Any]:
    declared = cls.INPUT_TYPES()
    if not isinstance(declared, dict):
        raise TypeError(f"INPUT_TYPES of {class_type} returned {type(declared).__name__}, not a dict")
    outputs = list(cls.RETURN_TYPES)
    v3 = bool(getattr(cls, "OBJECT_INFO_V3", False))
    info: dict[str, Any] = {
        "input": to_json(declared),
        "input_order": {section: [str(n) for n in names] for section, names in declared.items()},
        "is_input_list": bool(getattr(cls, "INPUT_IS_LIST", False)),
        "output": to_json(outputs),
        "output_is_list": list(getattr(cls, "OUTPUT_IS_LIST", [False] * len(outputs))),
        "output_name": to_json(list(getattr(cls, "RETURN_NAMES", outputs))),
        "name": class_type,
        "display_name": display_name if display_name is not None or v3 else class_type,
        "description": str(getattr(cls, "DESCRIPTION", "")),
        "python_module": str(getattr(cls, "RELATIVE_PYTHON_MODULE", "nodes")),
        "category": str(getattr(cls, "CATEGORY", "sd")),
        "output_node": getattr(cls, "OUTPUT_NODE", False) is True,
    }
    if hasattr(cls, "OUTPUT_TOOLTIPS"):
        info["output_tooltips"] = to_json(list(cls.OUTPUT_TOOLTIPS))
    for flag, attr in (("deprecated", "DEPRECATED"), ("experimental", "EXPERIMENTAL")):
        value = bool(getattr(cls, attr, False))
        if value or v3:
            info[flag] = value
    if hasattr(cls, "API_NODE"):
        info["api_node"] = bool(cls.API_NODE)
    info["search_aliases"] = to_json(list(getattr(cls, "SEARCH_ALIASES", [])))
    return info


def to_json(value: Any) -> Any:
    """Node declarations as JSON data: tuples become lists, str subclasses plain strings."""
    if isinstance(value, str):
        return str.__str__(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else str.__str__(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return str(value)


def _accepts_any(type_: Any) -> bool:
    """A str subclass whose `!=` never reports a difference (the "any type" idiom of custom packs)."""
    if not isinstance(type_, str) or type(type_).__ne__ is str.__ne__:
        return False
    try:
        return not (type_ != _PROBE)  # noqa: SIM202  # the overridden `!=` is what is probed
    except Exception:
        return False


def _validate_spec(cls: Any) -> ValidateSpecJson | None:
    validate = getattr(cls, "VALIDATE_INPUTS", None)
    if validate is None:
        return None
    try:
        parameters = inspect.signature(validate).parameters.values()
    except (TypeError, ValueError):
        return {"params": [], "var_kwargs": False}
    return {
        "params": [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)],
        "var_kwargs": any(p.kind is p.VAR_KEYWORD for p in parameters),
    }
