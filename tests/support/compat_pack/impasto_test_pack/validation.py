"""Five VALIDATE_INPUTS styles (node-api.md §1.7): the signature decides what each one validates."""

import asyncio


def _number(name):
    return {"required": {name: ("INT", {"default": 1, "min": 0, "max": 10})}}


class TestValidateFalse:
    """Names `value`: its min/max are skipped; odd values fail without detail."""

    @classmethod
    def INPUT_TYPES(cls):
        return _number("value")

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    def VALIDATE_INPUTS(cls, value):
        return value is None or value % 2 == 0

    def run(self, value):
        return (value,)


class TestValidateMessage:
    """Names `value` and returns a message for sevens."""

    @classmethod
    def INPUT_TYPES(cls):
        return _number("value")

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    def VALIDATE_INPUTS(cls, value):
        return "7s are not allowed" if value == 7 else True

    def run(self, value):
        return (value,)


class TestValidateKwargs:
    """`**kwargs` claims every input: the server checks no bounds, the node rejects negatives only."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"a": ("INT", {"min": 0, "max": 10}), "b": ("INT", {"min": 0, "max": 10})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    def VALIDATE_INPUTS(cls, **kwargs):
        bad = [k for k, v in sorted(kwargs.items()) if v is not None and v < 0]
        return f"negative: {','.join(bad)}" if bad else True

    def run(self, a, b):
        return (a + b,)


class TestValidateTypes:
    """`input_types` switches the server's link type check off; the node accepts INT or FLOAT links."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT",)}}

    RETURN_TYPES = ("FLOAT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    def VALIDATE_INPUTS(cls, input_types):
        received = input_types.get("value")
        return received in (None, "INT", "FLOAT") or f"cannot take {received}"

    def run(self, value):
        return (float(value),)


class TestValidateAsync:
    """An async VALIDATE_INPUTS that names a hidden input too; raises for a value of 9."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("INT", {"min": 0, "max": 10})}, "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "impasto_test"

    @classmethod
    async def VALIDATE_INPUTS(cls, value, unique_id):
        await asyncio.sleep(0)
        if value == 9:
            raise RuntimeError(f"node {unique_id} refuses nine")
        return value != 3 or "3 is taken"

    def run(self, value):
        return (value,)


NODE_CLASS_MAPPINGS = {
    "TestValidateFalse": TestValidateFalse,
    "TestValidateMessage": TestValidateMessage,
    "TestValidateKwargs": TestValidateKwargs,
    "TestValidateTypes": TestValidateTypes,
    "TestValidateAsync": TestValidateAsync,
}
