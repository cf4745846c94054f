"""Link type compatibility (execution.md §3, "Type compatibility")."""

from __future__ import annotations

import pytest

from impasto.graph.types import types_compatible
from tests.support.validation_nodes import ANYTHING, AnyType


@pytest.mark.parametrize(
    ("received", "declared"),
    [
        ("INT", "INT"),
        ("IMAGE", "IMAGE"),
        ("INT", "FLOAT,INT"),
        ("FLOAT,INT", "INT"),
        ("INT", " FLOAT , INT "),
        ("INT,STRING", "STRING,LATENT"),
        ("*", "IMAGE"),  # impasto deviation: a plain "*" on either side
        ("IMAGE", "*"),
        ("*", "*"),
        (ANYTHING, "INT"),  # a custom `__ne__` on either side is honoured
        ("INT", ANYTHING),
        (AnyType("X"), ["a", "b"]),
        (["a", "b"], ["a", "b"]),  # equal combo lists
    ],
)
def test_compatible_types(received, declared):
    assert types_compatible(received, declared)


@pytest.mark.parametrize(
    ("received", "declared"),
    [
        ("INT", "FLOAT"),
        ("FLOAT", "INT"),
        ("STRING", "FLOAT,INT"),
        ("FLOAT,INT", "STRING,IMAGE"),
        ("INT", "int"),  # type names are case-sensitive
        ("IMAGE", ""),
        ("", "IMAGE"),
        ("*IMAGE", "IMAGE"),  # only a plain "*" is a wildcard
        ("STRING", ["a", "b"]),  # a combo list is not a type name
        (["a"], "a"),
        (None, "INT"),
        (3, "INT"),
    ],
)
def test_incompatible_types(received, declared):
    assert not types_compatible(received, declared)


def test_an_empty_member_of_a_union_matches_only_an_empty_member():
    assert types_compatible("INT,", ",FLOAT")
    assert not types_compatible("INT", "FLOAT,")


def test_a_str_subclass_without_an_override_compares_as_its_text():
    class Named(str):
        pass

    assert types_compatible(Named("INT"), "INT")
    assert not types_compatible(Named("INT"), "FLOAT")
