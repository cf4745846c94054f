"""impasto's own arithmetic nodes on INT and FLOAT values (ComfyUI v0.3.64 has none).

Python semantics throughout: `floor_divide` rounds down, `modulo` takes the sign of `b`. INT `divide`
truncates toward zero. INT results must stay within ±(2^63 - 1), the range the inputs accept.
"""

from __future__ import annotations

import math
from collections.abc import Callable

InputTypes = dict[str, dict[str, tuple[object, ...] | str]]

INT_LIMIT = 2**63 - 1
OPERATIONS = ["add", "subtract", "multiply", "divide", "floor_divide", "modulo", "power", "min", "max"]
_DIVISIONS = frozenset({"divide", "floor_divide", "modulo"})


def _trunc_div(a: int, b: int) -> int:
    # Exact for big values, unlike int(a / b), which goes through a float.
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


def _int_power(a: int, b: int) -> int:
    if b < 0:
        raise ValueError(f"power: an INT result needs a non-negative exponent, got b = {b}")
    if abs(a) > 1 and b > 63:  # |a| ** b > 2 ** 63 already: refuse before computing a huge number
        raise OverflowError(f"power: {a} ** {b} is outside the INT range ±{INT_LIMIT}")
    return int(a**b)


_INT_OPS: dict[str, Callable[[int, int], int]] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": _trunc_div,
    "floor_divide": lambda a, b: a // b,
    "modulo": lambda a, b: a % b,
    "power": _int_power,
    "min": min,
    "max": max,
}


def _float_power(a: float, b: float) -> float:
    if a == 0.0 and b < 0:
        raise ZeroDivisionError(f"power: 0 ** {b} divides by zero")
    try:
        return math.pow(a, b)
    except ValueError:
        raise ValueError(f"power: {a} ** {b} has no real result (negative base, fractional exponent)") from None
    except OverflowError:
        raise OverflowError(f"power: {a} ** {b} is too large for a FLOAT") from None


_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
    "floor_divide": lambda a, b: a // b,
    "modulo": lambda a, b: a % b,
    "power": _float_power,
    "min": min,
    "max": max,
}


def _check(op: str, b: float) -> None:
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation {op!r}; expected one of {OPERATIONS}")
    if op in _DIVISIONS and b == 0:
        raise ZeroDivisionError(f"{op}: b is 0, and nothing can be divided by zero")


def int_math(a: int, b: int, op: str) -> int:
    """`a op b` on ints."""
    _check(op, b)
    result = _INT_OPS[op](a, b)
    if not -INT_LIMIT <= result <= INT_LIMIT:
        raise OverflowError(f"{op}: the result {result} is outside the INT range ±{INT_LIMIT}")
    return result


def float_math(a: float, b: float, op: str) -> float:
    """`a op b` on floats."""
    _check(op, b)
    return float(_FLOAT_OPS[op](float(a), float(b)))


class ImpastoIntMath:
    RELATIVE_PYTHON_MODULE = "impasto.nodes.math"
    RETURN_TYPES = ("INT",)
    FUNCTION = "compute"
    CATEGORY = "utils/math"
    DESCRIPTION = "Applies an arithmetic operation to two INT values: a op b."

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        bounds = {"default": 0, "min": -INT_LIMIT, "max": INT_LIMIT}
        return {"required": {"a": ("INT", dict(bounds)), "b": ("INT", dict(bounds)), "op": (list(OPERATIONS),)}}

    def compute(self, a: int, b: int, op: str) -> tuple[int]:
        return (int_math(a, b, op),)


class ImpastoFloatMath:
    RELATIVE_PYTHON_MODULE = "impasto.nodes.math"
    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "compute"
    CATEGORY = "utils/math"
    DESCRIPTION = "Applies an arithmetic operation to two FLOAT values: a op b."

    @classmethod
    def INPUT_TYPES(cls) -> InputTypes:
        # round False: the frontend would otherwise round typed values to the step's precision.
        bounds = {"default": 0.0, "min": -INT_LIMIT, "max": INT_LIMIT, "step": 0.01, "round": False}
        return {"required": {"a": ("FLOAT", dict(bounds)), "b": ("FLOAT", dict(bounds)), "op": (list(OPERATIONS),)}}

    def compute(self, a: float, b: float, op: str) -> tuple[float]:
        return (float_math(a, b, op),)
