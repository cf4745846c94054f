"""Validation error `type` strings and the ComfyUI error envelope (http-api.md §3.2)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict


class PromptErrorType(StrEnum):
    """Top-level `error.type` of a rejected `POST /prompt`."""

    NO_PROMPT = "no_prompt"  # the body has no `prompt`
    INVALID_PROMPT = "invalid_prompt"  # `prompt` is not an object, or a node has no class_type
    MISSING_NODE_TYPE = "missing_node_type"  # a class_type is not registered
    PROMPT_NO_OUTPUTS = "prompt_no_outputs"  # no output node (after partial_execution_targets)
    PROMPT_OUTPUTS_FAILED_VALIDATION = "prompt_outputs_failed_validation"  # every output failed
    INVALID_PROMPT_ID = "invalid_prompt_id"  # prompt_id is not a canonical UUID
    DUPLICATE_PROMPT_ID = "duplicate_prompt_id"  # prompt_id is pending or running
    INVALID_NODE_FAILURE_POLICY = "invalid_node_failure_policy"  # unsupported node_failure_policy
    INVALID_REQUEST_BODY = "invalid_request_body"  # the body is not a JSON object
    QUEUE_FULL = "queue_full"  # --max-queue-size reached


class NodeErrorType(StrEnum):
    """`type` of one error inside `node_errors[id].errors`."""

    REQUIRED_INPUT_MISSING = "required_input_missing"  # a required input is absent
    BAD_LINKED_INPUT = "bad_linked_input"  # malformed link, or one to a missing node or output
    RETURN_TYPE_MISMATCH = "return_type_mismatch"  # the linked output's type does not fit the input
    EXCEPTION_DURING_INNER_VALIDATION = "exception_during_inner_validation"  # upstream VALIDATE_INPUTS raised
    INVALID_INPUT_TYPE = "invalid_input_type"  # a constant could not be coerced to INT/FLOAT/STRING/BOOLEAN
    VALUE_SMALLER_THAN_MIN = "value_smaller_than_min"  # below the declared min
    VALUE_BIGGER_THAN_MAX = "value_bigger_than_max"  # above the declared max
    VALUE_NOT_IN_LIST = "value_not_in_list"  # not one of the combo's options
    CUSTOM_VALIDATION_FAILED = "custom_validation_failed"  # VALIDATE_INPUTS returned something other than True
    EXCEPTION_DURING_VALIDATION = "exception_during_validation"  # the output's own VALIDATE_INPUTS raised
    DEPENDENCY_CYCLE = "dependency_cycle"  # the node is part of a cycle of links


class ErrorInfo(TypedDict):
    type: str
    message: str
    details: str
    extra_info: dict[str, Any]


class NodeErrors(TypedDict):
    errors: list[ErrorInfo]
    dependent_outputs: list[str]
    class_type: str


def error_info(type_: str, message: str, details: str = "", **extra_info: Any) -> ErrorInfo:
    """One error record in ComfyUI's shape."""
    return {"type": str(type_), "message": message, "details": details, "extra_info": extra_info}


def exception_type_name(exc: BaseException) -> str:
    """`module.Class` for an exception, the bare class name for builtins (as ComfyUI reports it)."""
    cls = type(exc)
    module = cls.__module__
    if module in (None, "builtins"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"
