"""impasto's INT and FLOAT math nodes."""

from __future__ import annotations

import pytest

from impasto.nodes.math import OPERATIONS, ImpastoFloatMath, ImpastoIntMath

LIMIT = 2**63 - 1


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        ("add", 7, -3, 4),
        ("subtract", 7, -3, 10),
        ("multiply", 7, -3, -21),
        ("divide", 7, 2, 3),
        ("divide", -7, 2, -3),  # truncates toward zero
        ("divide", LIMIT, 1, LIMIT),  # exact, no float on the way
        ("floor_divide", -7, 2, -4),
        ("modulo", -7, 3, 2),  # the sign of b
        ("modulo", 7, -3, -2),
        ("power", -2, 3, -8),
        ("power", 5, 0, 1),
        ("power", 1, 10**9, 1),
        ("min", 7, -3, -3),
        ("max", 7, -3, 7),
    ],
)
def test_int_math(op: str, a: int, b: int, expected: int) -> None:
    (result,) = ImpastoIntMath().compute(a, b, op)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        ("add", 1.5, 0.25, 1.75),
        ("subtract", 1.5, 0.25, 1.25),
        ("multiply", 1.5, -2.0, -3.0),
        ("divide", 1.0, 4.0, 0.25),
        ("floor_divide", -7.0, 2.0, -4.0),
        ("modulo", -7.5, 2.0, 0.5),
        ("power", 9.0, 0.5, 3.0),
        ("power", 2.0, -1.0, 0.5),
        ("min", 1.5, -0.5, -0.5),
        ("max", 1.5, -0.5, 1.5),
    ],
)
def test_float_math(op: str, a: float, b: float, expected: float) -> None:
    (result,) = ImpastoFloatMath().compute(a, b, op)
    assert result == expected
    assert type(result) is float


def test_float_math_accepts_ints() -> None:
    assert ImpastoFloatMath().compute(3, 2, "divide") == (1.5,)


@pytest.mark.parametrize("op", ["divide", "floor_divide", "modulo"])
def test_division_by_zero_is_reported_clearly(op: str) -> None:
    with pytest.raises(ZeroDivisionError, match=f"^{op}: b is 0"):
        ImpastoIntMath().compute(1, 0, op)
    with pytest.raises(ZeroDivisionError, match=f"^{op}: b is 0"):
        ImpastoFloatMath().compute(1.0, 0.0, op)


def test_float_zero_to_a_negative_power_divides_by_zero() -> None:
    with pytest.raises(ZeroDivisionError, match="power"):
        ImpastoFloatMath().compute(0.0, -1.0, "power")


def test_float_power_without_a_real_result() -> None:
    with pytest.raises(ValueError, match="no real result"):
        ImpastoFloatMath().compute(-8.0, 1 / 3, "power")
    with pytest.raises(OverflowError, match="too large"):
        ImpastoFloatMath().compute(10.0, 400.0, "power")


def test_int_results_stay_in_range() -> None:
    with pytest.raises(OverflowError, match="outside the INT range"):
        ImpastoIntMath().compute(LIMIT, 1, "add")
    with pytest.raises(OverflowError, match="outside the INT range"):
        ImpastoIntMath().compute(3, 10**18, "power")  # refused before computing
    with pytest.raises(ValueError, match="non-negative exponent"):
        ImpastoIntMath().compute(2, -1, "power")


def test_unknown_operation() -> None:
    with pytest.raises(ValueError, match="unknown operation"):
        ImpastoIntMath().compute(1, 1, "xor")


def test_declarations() -> None:
    ints = ImpastoIntMath.INPUT_TYPES()["required"]
    assert list(ints) == ["a", "b", "op"]
    assert ints["a"] == ("INT", {"default": 0, "min": -LIMIT, "max": LIMIT})
    assert ints["op"] == (OPERATIONS,)
    assert OPERATIONS == ["add", "subtract", "multiply", "divide", "floor_divide", "modulo", "power", "min", "max"]
    floats = ImpastoFloatMath.INPUT_TYPES()["required"]
    assert floats["b"][0] == "FLOAT"
    for cls in (ImpastoIntMath, ImpastoFloatMath):
        assert cls.CATEGORY == "utils/math"
        assert cls.RELATIVE_PYTHON_MODULE == "impasto.nodes.math"
    assert ImpastoIntMath.RETURN_TYPES == ("INT",) and ImpastoFloatMath.RETURN_TYPES == ("FLOAT",)
