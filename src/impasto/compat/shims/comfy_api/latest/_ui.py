"""`comfy_api.latest.ui`: helpers that build the `ui` dict of a V3 node's result (node-api.md §6)."""

from __future__ import annotations

from typing import Any


class _UIOutput:
    def as_dict(self) -> dict[str, Any]:
        raise NotImplementedError


class SavedResult(dict[str, str]):
    """One file of a `ui` result: `{"filename", "subfolder", "type"}`."""

    def __init__(self, filename: str, subfolder: str, type: str) -> None:
        super().__init__(filename=filename, subfolder=subfolder, type=type)


class SavedImages(_UIOutput):
    def __init__(self, results: list[SavedResult], is_animated: bool = False) -> None:
        self.results = results
        self.is_animated = is_animated

    def as_dict(self) -> dict[str, Any]:
        ui: dict[str, Any] = {"images": [dict(r) for r in self.results]}
        if self.is_animated:
            ui["animated"] = (True,)
        return ui


class PreviewImage(_UIOutput):
    """Writes the images to the temp folder as the core PreviewImage node does, and shows them."""

    def __init__(self, image: Any, animated: bool = False, cls: Any = None, **kwargs: Any) -> None:
        from impasto.nodes.image_io import PreviewImage as CorePreview

        hidden = getattr(cls, "hidden", None)
        saved = CorePreview().save_images(
            image,
            prompt=getattr(hidden, "prompt", None),
            extra_pnginfo=getattr(hidden, "extra_pnginfo", None),
        )
        self.values = saved["ui"]["images"]
        self.animated = animated

    def as_dict(self) -> dict[str, Any]:
        ui: dict[str, Any] = {"images": self.values}
        if self.animated:
            ui["animated"] = (True,)
        return ui


class PreviewText(_UIOutput):
    def __init__(self, value: str, **kwargs: Any) -> None:
        self.value = value

    def as_dict(self) -> dict[str, Any]:
        return {"text": (self.value,)}


def as_ui_dict(ui: Any) -> dict[str, Any] | None:
    """A V3 `ui` value (a helper object or a plain dict) as the V1 `ui` dict."""
    if ui is None:
        return None
    if isinstance(ui, _UIOutput):
        return ui.as_dict()
    return dict(ui)


__all__ = ["PreviewImage", "PreviewText", "SavedImages", "SavedResult"]
