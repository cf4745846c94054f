"""The CLIP text encoder of SD1.x (Radford et al. 2021, ViT-L/14's text tower).

Attribute names follow the keys under `cond_stage_model.transformer.` (`text_model.embeddings`,
`text_model.encoder.layers.N.self_attn.q_proj`, `text_model.final_layer_norm`), the layout of Hugging Face's
CLIPTextModel that SD1.x checkpoints embed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from impasto.models.attention import attention


@dataclass(frozen=True, slots=True)
class CLIPTextConfig:
    """The shape of a text encoder, as read from a state dict (`impasto.models.detect.clip_config`)."""

    vocab_size: int
    width: int
    layers: int
    intermediate: int
    max_positions: int = 77
    head_dim: int = 64  # every CLIP text tower SD uses has 64-channel heads; heads are not in the shapes

    @property
    def heads(self) -> int:
        return max(1, self.width // self.head_dim)


@dataclass(frozen=True, slots=True)
class TextEncoding:
    """What the encoder gives the UNet: per-token states (b, n, width) and the pooled end-of-text state (b, width)."""

    hidden: torch.Tensor
    pooled: torch.Tensor


class Embeddings(nn.Module):
    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.width)
        self.position_embedding = nn.Embedding(config.max_positions, config.width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(tokens) + self.position_embedding.weight[: tokens.shape[1]]  # type: ignore[no-any-return]


class SelfAttention(nn.Module):
    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.q_proj = nn.Linear(config.width, config.width)
        self.k_proj = nn.Linear(config.width, config.width)
        self.v_proj = nn.Linear(config.width, config.width)
        self.out_proj = nn.Linear(config.width, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, causal=True)
        return self.out_proj(out)  # type: ignore[no-any-return]  # nn.Module's call is untyped


class MLP(nn.Module):
    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.width, config.intermediate)
        self.fc2 = nn.Linear(config.intermediate, config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        return self.fc2(h * torch.sigmoid(1.702 * h))  # type: ignore[no-any-return]  # quick GELU, as OpenAI's CLIP


class EncoderLayer(nn.Module):
    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__()
        self.self_attn = SelfAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.width)
        self.mlp = MLP(config)
        self.layer_norm2 = nn.LayerNorm(config.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))  # type: ignore[no-any-return]  # nn.Module's call is untyped


class Encoder(nn.Module):
    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.layers))


class TextTransformer(nn.Module):
    def __init__(self, config: CLIPTextConfig) -> None:
        super().__init__()
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        self.final_layer_norm = nn.LayerNorm(config.width)


class CLIPTextModel(nn.Module):
    """Token ids (b, n) -> TextEncoding. `last_layer` is ComfyUI's CLIPSetLastLayer value: -1 is the last
    layer, -2 the one before (clip skip 2), ...; the chosen layer's states pass the final layer norm, as
    ComfyUI does for SD1.x."""

    def __init__(self, config: CLIPTextConfig, eos_token: int = 49407) -> None:
        super().__init__()
        self.config = config
        self.eos_token = eos_token
        self.text_model = TextTransformer(config)

    def forward(self, tokens: torch.Tensor, last_layer: int = -1) -> TextEncoding:
        if not -self.config.layers <= last_layer <= -1:
            raise ValueError(f"last_layer must be between -{self.config.layers} and -1, got {last_layer}")
        model = self.text_model
        x = model.embeddings(tokens)
        stop = self.config.layers + 1 + last_layer
        for layer in list(model.encoder.layers)[:stop]:
            x = layer(x)
        hidden = model.final_layer_norm(x)
        # The pooled state is the one at the first end-of-text token of each prompt.
        eos_at = (tokens == self.eos_token).int().argmax(dim=-1)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), eos_at]
        return TextEncoding(hidden=hidden, pooled=pooled)
