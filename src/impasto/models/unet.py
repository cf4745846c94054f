"""The SD1.x denoising UNet (Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models").

Attribute names follow the LDM checkpoint keys under `model.diffusion_model.` (`time_embed`, `input_blocks`,
`middle_block`, `output_blocks`, `out`; `in_layers`/`emb_layers`/`out_layers` in residual blocks), so the
state dict of a stock checkpoint loads without renaming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from impasto.models.attention import attention


@dataclass(frozen=True, slots=True)
class UNetConfig:
    """The shape of a UNet, as read from a state dict (`impasto.models.detect.unet_config`)."""

    in_channels: int
    out_channels: int
    model_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: tuple[int, ...]  # per level
    transformer_depth: tuple[int, ...]  # per level; 0 means no attention at that level
    transformer_depth_middle: int
    context_dim: int
    num_heads: int = 8  # SD1.x: 8 heads everywhere (the head count is not in the weights' shapes)
    ff_mult: int = 4


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal timestep embedding, cosines first (as LDM): (b,) -> (b, dim), float32."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half)
    args = timesteps[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _norm(channels: int, eps: float = 1e-5) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=eps)


class ResBlock(nn.Module):
    """Residual block with a timestep-embedding shift (Ho et al. 2020's DDPM UNet block)."""

    def __init__(self, channels: int, emb_channels: int, out_channels: int) -> None:
        super().__init__()
        self.in_layers = nn.Sequential(_norm(channels), nn.SiLU(), nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, out_channels))
        self.out_layers = nn.Sequential(
            _norm(out_channels), nn.SiLU(), nn.Identity(), nn.Conv2d(out_channels, out_channels, 3, padding=1)
        )
        self.skip_connection: nn.Module = (
            nn.Identity() if channels == out_channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h: torch.Tensor = self.in_layers(x)
        h = h + self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        h = self.out_layers(h)
        skip: torch.Tensor = self.skip_connection(x)
        return skip + h


class CrossAttention(nn.Module):
    """Multi-head attention; self-attention when no context is given."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        self.heads = heads
        context_dim = context_dim or dim
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Identity())

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        out = attention(self.to_q(x), self.to_k(context), self.to_v(context), self.heads)
        return self.to_out(out)  # type: ignore[no-any-return]  # nn.Sequential's call is untyped


class GEGLU(nn.Module):
    """Gated GELU projection (Shazeer 2020, "GLU Variants Improve Transformer")."""

    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected: torch.Tensor = self.proj(x)
        value, gate = projected.chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int) -> None:
        super().__init__()
        self.net = nn.Sequential(GEGLU(dim, dim * mult), nn.Identity(), nn.Linear(dim * mult, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # type: ignore[no-any-return]  # nn.Sequential's call is untyped


class BasicTransformerBlock(nn.Module):
    """Pre-norm self-attention, cross-attention to the text context, and a GEGLU feed-forward."""

    def __init__(self, dim: int, heads: int, context_dim: int, ff_mult: int) -> None:
        super().__init__()
        self.attn1 = CrossAttention(dim, heads)
        self.ff = FeedForward(dim, ff_mult)
        self.attn2 = CrossAttention(dim, heads, context_dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context) + x
        return self.ff(self.norm3(x)) + x  # type: ignore[no-any-return]  # nn.Module's call is untyped


class SpatialTransformer(nn.Module):
    """Transformer over the pixels of a feature map, with 1x1 convolutions in and out (SD1.x)."""

    def __init__(self, channels: int, heads: int, depth: int, context_dim: int, ff_mult: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList(
            BasicTransformerBlock(channels, heads, context_dim, ff_mult) for _ in range(depth)
        )
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x))
        y = y.permute(0, 2, 3, 1).reshape(b, h * w, c)  # (b, hw, c)
        for block in self.transformer_blocks:
            y = block(y, context)
        y = y.reshape(b, h, w, c).permute(0, 3, 1, 2)  # (b, c, h, w)
        return self.proj_out(y) + x  # type: ignore[no-any-return]  # nn.Module's call is untyped


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)  # type: ignore[no-any-return]  # nn.Module's call is untyped


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        # Nearest 2x, or to the skip connection's size when the latent had an odd side.
        x = F.interpolate(x, size=size, scale_factor=None if size else 2.0, mode="nearest")
        return self.conv(x)  # type: ignore[no-any-return]  # nn.Module's call is untyped


class TimestepEmbedSequential(nn.Sequential):
    """A row of blocks (`input_blocks.N.0`, `.1`, ...) each given what it takes: emb, context or a size."""

    def forward(  # type: ignore[override]  # takes the UNet's extra inputs, unlike nn.Sequential
        self, x: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context)
            elif isinstance(layer, Upsample):
                x = layer(x, size)
            else:
                x = layer(x)
        return x


class UNetModel(nn.Module):
    """eps-prediction UNet: (x, timesteps, context) -> predicted noise, same shape as x."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        mc = config.model_channels
        emb = mc * 4
        heads, ctx, ff = config.num_heads, config.context_dim, config.ff_mult
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))

        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(config.in_channels, mc, 3, padding=1))])
        skip_channels = [mc]
        ch = mc
        levels = len(config.channel_mult)
        for level, mult in enumerate(config.channel_mult):
            for _ in range(config.num_res_blocks[level]):
                layers: list[nn.Module] = [ResBlock(ch, emb, mc * mult)]
                ch = mc * mult
                if config.transformer_depth[level]:
                    layers.append(SpatialTransformer(ch, heads, config.transformer_depth[level], ctx, ff))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != levels - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch)))
                skip_channels.append(ch)

        self.middle_block = TimestepEmbedSequential(
            ResBlock(ch, emb, ch),
            SpatialTransformer(ch, heads, config.transformer_depth_middle, ctx, ff),
            ResBlock(ch, emb, ch),
        )

        self.output_blocks = nn.ModuleList()
        for level in reversed(range(levels)):
            mult = config.channel_mult[level]
            for index in range(config.num_res_blocks[level] + 1):
                layers = [ResBlock(ch + skip_channels.pop(), emb, mc * mult)]
                ch = mc * mult
                if config.transformer_depth[level]:
                    layers.append(SpatialTransformer(ch, heads, config.transformer_depth[level], ctx, ff))
                if level and index == config.num_res_blocks[level]:
                    layers.append(Upsample(ch))
                self.output_blocks.append(TimestepEmbedSequential(*layers))

        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, config.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        dtype = next(self.parameters()).dtype
        emb = self.time_embed(timestep_embedding(timesteps, self.config.model_channels).to(dtype))
        h = x.to(dtype)
        context = context.to(dtype)
        skips: list[torch.Tensor] = []
        for block in self.input_blocks:
            h = block(h, emb, context)
            skips.append(h)
        h = self.middle_block(h, emb, context)
        for block in self.output_blocks:
            h = torch.cat([h, skips.pop()], dim=1)
            size = (skips[-1].shape[2], skips[-1].shape[3]) if skips else None
            h = block(h, emb, context, size)
        return self.out(h)  # type: ignore[no-any-return]  # nn.Sequential's call is untyped
