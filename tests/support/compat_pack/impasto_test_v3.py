"""A V3 pack (`comfy_entrypoint` instead of NODE_CLASS_MAPPINGS) exercising io.ComfyNode as the spec describes."""

import asyncio

from comfy_api.latest import ComfyExtension, io, ui
from comfy_execution.graph_utils import GraphBuilder


class V3Scale(io.ComfyNode):
    """Scales an image by a factor; fingerprints on the factor and validates it."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3Scale",
            display_name="Scale (V3)",
            category="impasto_test/v3",
            description="Multiplies every pixel.",
            inputs=[
                io.Image.Input("image"),
                io.Float.Input("factor", default=1.0, min=0.0, max=4.0, step=0.1, tooltip="how much"),
                io.Combo.Input("mode", options=["multiply", "divide"], default="multiply"),
                io.Mask.Input("mask", optional=True),
            ],
            outputs=[io.Image.Output(display_name="scaled")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, factor):
        return factor != 3.0 or "3 is not a factor"

    @classmethod
    def fingerprint_inputs(cls, factor, **kwargs):
        return factor

    @classmethod
    def execute(cls, image, factor, mode, mask=None):
        scaled = image * factor if mode == "multiply" else image / factor
        return io.NodeOutput(scaled, ui=ui.PreviewText(f"{cls.hidden.unique_id}:{factor}"))


class V3Choose(io.ComfyNode):
    """Lazy: asks only for the input `pick` names; blocks when `pick` is "none"; async execute."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3Choose",
            category="impasto_test/v3",
            inputs=[
                io.Int.Input("a", lazy=True),
                io.Int.Input("b", lazy=True),
                io.Combo.Input("pick", options=["a", "b", "none"]),
            ],
            outputs=[io.Int.Output()],
        )

    @classmethod
    async def check_lazy_status(cls, pick, a=None, b=None):
        await asyncio.sleep(0)
        if pick == "a" and a is None:
            return ["a"]
        if pick == "b" and b is None:
            return ["b"]
        return []

    @classmethod
    async def execute(cls, pick, a=None, b=None):
        if pick == "none":
            return io.NodeOutput(block_execution="nothing picked")
        return io.NodeOutput(a if pick == "a" else b)


class V3Triple(io.ComfyNode):
    """Expands into a graph (enable_expand)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3Triple",
            category="impasto_test/v3",
            inputs=[io.Int.Input("value")],
            outputs=[io.Int.Output()],
            enable_expand=True,
        )

    @classmethod
    def execute(cls, value):
        graph = GraphBuilder()
        once = graph.node("TestIntAdd", a=value, b=value)
        twice = graph.node("TestIntAdd", a=once.out(0), b=value)
        return io.NodeOutput(twice.out(0), expand=graph.finalize())


class V3Output(io.ComfyNode):
    """An output node: gets PROMPT and EXTRA_PNGINFO without asking."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="V3Output",
            display_name="Output (V3)",
            category="impasto_test/v3",
            inputs=[io.AnyType.Input("value")],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, value):
        if hasattr(value, "mean"):
            value = round(float(value.mean()), 4)
        has_prompt = isinstance(cls.hidden.prompt, dict)
        return io.NodeOutput(ui={"text": [str(value)], "has_prompt": [has_prompt]})


class Extension(ComfyExtension):
    async def get_node_list(self):
        return [V3Scale, V3Choose, V3Triple, V3Output]


async def comfy_entrypoint():
    return Extension()
