"""Why a checkpoint could not be used, as data a node turns into a job error."""

from __future__ import annotations


class ModelError(Exception):
    """Root of the model-loading errors; `str()` is the message shown to the user."""


class CheckpointError(ModelError):
    """The file cannot be read as a checkpoint: truncated, corrupt, not a tensor file, or it holds code."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read checkpoint {path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedModelError(ModelError):
    """The checkpoint is readable but is not an architecture impasto runs; `found` names what it is."""

    def __init__(self, found: str, detail: str = "") -> None:
        message = f"unsupported model: found {found}; impasto runs Stable Diffusion 1.x checkpoints"
        super().__init__(f"{message} ({detail})" if detail else message)
        self.found = found
        self.detail = detail
