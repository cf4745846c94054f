"""A prompt -> the text conditioning the UNet attends to, with ComfyUI's emphasis semantics.

All windows of a prompt (and the empty prompt, when any weight is not 1) are encoded in one batch. A token
of weight w becomes empty + w * (state - empty), interpolating from the empty prompt's state at the same
position; windows are concatenated along the tokens, and the pooled output is the first window's.
"""

from __future__ import annotations

import torch

from impasto.models.clip import CLIPTextModel, TextEncoding
from impasto.models.prompt import empty_window, windows


def encode_prompt(clip: CLIPTextModel, text: str, last_layer: int = -1) -> TextEncoding:
    """(1, 77 * windows, width) token states and the (1, width) pooled state of `text`."""
    chunks = windows(text)
    weighted = any(token.weight != 1.0 for chunk in chunks for token in chunk)
    batch = [*chunks, empty_window()] if weighted else chunks
    device = clip.text_model.embeddings.token_embedding.weight.device
    ids = torch.tensor([[token.id for token in chunk] for chunk in batch], device=device)
    with torch.no_grad():
        encoded = clip(ids, last_layer=last_layer)
    hidden = encoded.hidden[: len(chunks)]
    if weighted:
        empty = encoded.hidden[-1:]
        weights = torch.tensor([[t.weight for t in chunk] for chunk in chunks], device=device, dtype=hidden.dtype)
        scaled = empty + (hidden - empty) * weights[..., None]
        hidden = torch.where(weights[..., None] == 1.0, hidden, scaled)
    # (windows, 77, width) -> (1, windows * 77, width)
    return TextEncoding(hidden=hidden.reshape(1, -1, hidden.shape[-1]), pooled=encoded.pooled[:1])
