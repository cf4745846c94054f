"""The registry's /object_info shape (node-api.md §2) and its registration checks."""

import pytest

from impasto.engine.registry import NodeRegistry, RegistrationError


class Sample:
    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {"image": ("IMAGE",), "mode": (["a", "b"], {"default": "a"})},
            "optional": {"mask": ("MASK", {"tooltip": "m"})},
            "hidden": {"prompt": "PROMPT"},
        }

    RETURN_TYPES = ("IMAGE", "INT")
    RETURN_NAMES = ("picture", "count")
    OUTPUT_IS_LIST = (False, True)
    FUNCTION = "run"
    CATEGORY = "test/sample"
    DESCRIPTION = "a sample"

    def run(self, **kwargs):
        return (None, [])


class AnyType(str):
    def __ne__(self, other):
        return False


class Bare:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"x": (AnyType("*"),)}}

    RETURN_TYPES = (AnyType("*"),)
    FUNCTION = "run"

    @classmethod
    def VALIDATE_INPUTS(cls, x, input_types, **kwargs):
        return True

    def run(self, x):
        return (x,)


def test_object_info_has_the_comfyui_shape():
    registry = NodeRegistry()
    registry.register("Sample", Sample, "Sample Node")
    info = registry.object_info("Sample")
    assert info == {
        "input": {
            "required": {"image": ["IMAGE"], "mode": [["a", "b"], {"default": "a"}]},
            "optional": {"mask": ["MASK", {"tooltip": "m"}]},
            "hidden": {"prompt": "PROMPT"},
        },
        "input_order": {"required": ["image", "mode"], "optional": ["mask"], "hidden": ["prompt"]},
        "is_input_list": False,
        "output": ["IMAGE", "INT"],
        "output_is_list": [False, True],
        "output_name": ["picture", "count"],
        "name": "Sample",
        "display_name": "Sample Node",
        "description": "a sample",
        "python_module": "nodes",
        "category": "test/sample",
        "output_node": False,
        "search_aliases": [],
    }


def test_defaults_of_a_bare_class():
    registry = NodeRegistry()
    registry.register("Bare", Bare)
    info = registry.object_info("Bare")
    assert info["display_name"] == "Bare"
    assert info["category"] == "sd"
    assert info["output_name"] == ["*"]
    assert info["output_is_list"] == [False]
    assert "deprecated" not in info and "output_tooltips" not in info


def test_catalog_entry_carries_validate_signature_and_any_types():
    registry = NodeRegistry()
    registry.register("Bare", Bare)
    entry = registry.catalog_entry("Bare")
    assert entry["validate"] == {"params": ["x", "input_types"], "var_kwargs": True}
    assert entry["any_inputs"] == ["x"]
    assert entry["any_outputs"] == [0]
    node_def = registry.catalog()["Bare"]
    assert node_def.validate is not None and node_def.validate.takes_input_types


def test_object_info_is_recomputed_on_every_request():
    names = ["one.png"]

    class Files:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"image": (list(names),)}}

        RETURN_TYPES = ()
        FUNCTION = "run"

        def run(self, image):
            return ()

    registry = NodeRegistry()
    registry.register("Files", Files)
    assert registry.object_info("Files")["input"]["required"]["image"] == [["one.png"]]
    names.append("two.png")
    assert registry.object_info("Files")["input"]["required"]["image"] == [["one.png", "two.png"]]


def test_a_class_whose_definition_raises_is_left_out(caplog):
    class Broken:
        @classmethod
        def INPUT_TYPES(cls):
            raise RuntimeError("broken pack")

        RETURN_TYPES = ()
        FUNCTION = "run"

        def run(self):
            return ()

    registry = NodeRegistry()
    registry.register("Broken", Broken)
    registry.register("Sample", Sample)
    assert set(registry.all_object_info()) == {"Sample"}
    assert "Broken" in caplog.text


@pytest.mark.parametrize(
    ("attrs", "problem"),
    [
        ({"RETURN_TYPES": (), "FUNCTION": "run"}, "INPUT_TYPES"),
        ({"INPUT_TYPES": classmethod(lambda cls: {}), "FUNCTION": "run"}, "RETURN_TYPES"),
        ({"INPUT_TYPES": classmethod(lambda cls: {}), "RETURN_TYPES": (), "FUNCTION": "missing"}, "FUNCTION"),
    ],
)
def test_classes_that_could_never_run_are_refused(attrs, problem):
    cls = type("Bad", (), {"run": lambda self: (), **attrs})
    registry = NodeRegistry()
    with pytest.raises(RegistrationError, match=problem):
        registry.register("Bad", cls)
    assert registry.register_mappings({"Bad": cls}) == []


def test_first_registration_of_a_name_wins():
    registry = NodeRegistry()
    registry.register("Sample", Sample)
    assert registry.register_mappings({"Sample": Bare}) == []
    assert registry.get_class("Sample") is Sample
