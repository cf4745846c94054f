"""Multi-head attention over (batch, tokens, channels) tensors through torch's scaled_dot_product_attention."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, causal: bool = False) -> torch.Tensor:
    """Scaled dot-product attention (Vaswani et al. 2017) with `heads` heads; q, k, v are (b, n, heads * d)."""
    b, n, inner = q.shape
    d = inner // heads
    # (b, n, heads * d) -> (b, heads, n, d)
    q, k, v = (t.reshape(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return out.transpose(1, 2).reshape(b, n, inner)
