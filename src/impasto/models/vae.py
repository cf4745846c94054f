"""The KL-regularised autoencoder of latent diffusion (Rombach et al. 2022, appendix G), encoder and decoder.

Attribute names follow the LDM keys under `first_stage_model.` (`encoder.down.N.block.M`, `mid.attn_1`,
`decoder.up.N.upsample`, `quant_conv`, `post_quant_conv`). Decoder levels are numbered from the lowest
resolution up, as in the checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from impasto.models.attention import attention


@dataclass(frozen=True, slots=True)
class VAEConfig:
    """The shape of an autoencoder, as read from a state dict (`impasto.models.detect.vae_config`)."""

    in_channels: int
    out_channels: int
    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    z_channels: int
    embed_dim: int

    @property
    def downscale(self) -> int:
        """Pixels per latent pixel along each side (8 for SD1.x)."""
        return int(2 ** (len(self.ch_mult) - 1))


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.norm1 = _norm(channels)
        self.conv1 = nn.Conv2d(channels, out_channels, 3, padding=1)
        self.norm2 = _norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.nin_shortcut: nn.Module = (
            nn.Identity() if channels == out_channels else nn.Conv2d(channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.nin_shortcut(x) + h  # type: ignore[no-any-return]  # nn.Module's call is untyped


class AttnBlock(nn.Module):
    """Single-head self-attention over all pixels, with 1x1 convolutions as projections."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        # (b, c, h, w) -> (b, hw, c)
        q, k, v = (p(y).reshape(b, c, h * w).transpose(1, 2) for p in (self.q, self.k, self.v))
        out = attention(q, k, v, heads=1).transpose(1, 2).reshape(b, c, h, w)
        return x + self.proj_out(out)  # type: ignore[no-any-return]  # nn.Module's call is untyped


class Downsample(nn.Module):
    """Stride-2 convolution after padding one pixel right and bottom (LDM's asymmetric padding)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # type: ignore[no-any-return]  # nn.Module's call is untyped


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))  # type: ignore[no-any-return]


class Mid(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels)
        self.attn_1 = AttnBlock(channels)
        self.block_2 = ResnetBlock(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))  # type: ignore[no-any-return]  # untyped call


class Level(nn.Module):
    """One resolution: residual blocks, then a resampler (`downsample` or `upsample`) unless it is the last."""

    def __init__(self, blocks: list[ResnetBlock], resample: Downsample | Upsample | None) -> None:
        super().__init__()
        self.block = nn.ModuleList(blocks)
        if isinstance(resample, Downsample):
            self.downsample = resample
        elif isinstance(resample, Upsample):
            self.upsample = resample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.block:
            x = block(x)
        for name in ("downsample", "upsample"):
            if name in self._modules:
                x = self._modules[name](x)  # type: ignore[misc]  # present when named
        return x


class Encoder(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        ch, mults = config.ch, config.ch_mult
        self.conv_in = nn.Conv2d(config.in_channels, ch, 3, padding=1)
        self.down = nn.ModuleList()
        block_in = ch
        for level, mult in enumerate(mults):
            blocks = []
            for _ in range(config.num_res_blocks):
                blocks.append(ResnetBlock(block_in, ch * mult))
                block_in = ch * mult
            self.down.append(Level(blocks, Downsample(block_in) if level != len(mults) - 1 else None))
        self.mid = Mid(block_in)
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * config.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # type: ignore[no-any-return]  # untyped call


class Decoder(nn.Module):
    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        ch, mults = config.ch, config.ch_mult
        block_in = ch * mults[-1]
        self.conv_in = nn.Conv2d(config.z_channels, block_in, 3, padding=1)
        self.mid = Mid(block_in)
        levels: list[Level] = []
        for level in reversed(range(len(mults))):
            blocks = []
            for _ in range(config.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, ch * mults[level]))
                block_in = ch * mults[level]
            levels.append(Level(blocks, Upsample(block_in) if level != 0 else None))
        self.up = nn.ModuleList(reversed(levels))  # up.0 is the full-resolution level
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, config.out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))  # type: ignore[no-any-return]  # untyped call


class AutoencoderKL(nn.Module):
    """Images in [-1, 1] (b, 3, H, W) <-> unscaled latents (b, 4, H/8, W/8)."""

    def __init__(self, config: VAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = nn.Conv2d(2 * config.z_channels, 2 * config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    @property
    def dtype(self) -> torch.dtype:
        return self.quant_conv.weight.dtype

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior's mean (deterministic, like ComfyUI's VAEEncode)."""
        moments: torch.Tensor = self.quant_conv(self.encoder(x.to(self.dtype)))
        mean, _logvar = moments.chunk(2, dim=1)
        return mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z.to(self.dtype)))  # type: ignore[no-any-return]
