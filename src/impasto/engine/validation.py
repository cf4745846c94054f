"""Validating prompts in the process that holds the node classes (the node host, or an embedded run)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from impasto.engine.lists import map_classmethod, run_coroutine_blocking
from impasto.engine.registry import NodeRegistry
from impasto.graph.blocker import ExecutionBlocker
from impasto.graph.validate import (
    NodeCodeError,
    ValidateCall,
    ValidateHook,
    ValidateResult,
    ValidationResult,
    validate_prompt,
)


def local_validate_hook(registry: NodeRegistry) -> ValidateHook:
    """Runs a class's VALIDATE_INPUTS here, through the list machinery (async ones are awaited)."""

    def hook(call: ValidateCall) -> Sequence[ValidateResult]:
        cls = registry.get_class(call.class_type)
        try:
            results = run_coroutine_blocking(
                map_classmethod(cls.VALIDATE_INPUTS, call.kwargs, bool(getattr(cls, "INPUT_IS_LIST", False)))
            )
        except Exception as exc:
            raise NodeCodeError.from_exception(exc) from exc
        return [_result(r) for r in results]

    return hook


def _result(value: object) -> ValidateResult:
    if value is True or isinstance(value, ExecutionBlocker):
        return True
    if value is False:
        return False
    return str(value)


def validate_locally(
    prompt: object, registry: NodeRegistry, partial_execution_targets: Collection[str] | None = None
) -> ValidationResult:
    """Validate against this process's registry."""
    return validate_prompt(prompt, registry.catalog(), local_validate_hook(registry), partial_execution_targets)
