"""A small vision transformer for 32×32 images (Dosovitskiy et al. 2021; DeiT-Ti sizes).

Patch embedding (a ``patch × patch`` stride-``patch`` convolution), a class token and learned
position embeddings, ``depth`` pre-norm encoder blocks ``x + Attn(LN(x))``, ``x + MLP(LN(x))``
(GELU), a final LayerNorm and a linear head on the class token. Query, key, value and output
projections are separate ``nn.Linear`` layers so that each is its own parameter block (Zhang et
al. 2024, "Why Transformers Need Adam", measure their Hessian blocks separately).

Parameter names: ``embed.cls``, ``embed.pos``, ``embed.proj.*``, ``blocks.0.norm1.*``,
``blocks.0.attn.query.*`` / ``key`` / ``value`` / ``out``, ``blocks.0.norm2.*``,
``blocks.0.mlp.fc1.*`` / ``fc2``, ``norm.*``, ``head.*``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from landscape.errors import ConfigError
from landscape.models._config import record_config

#: ``"math"``: softmax attention written out (twice differentiable everywhere); ``"sdpa"``:
#: ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels; some have no double
#: backward, so the Hessian falls back to finite differences there).
AttentionKernel = Literal["math", "sdpa"]


class Attention(nn.Module):
    """Multi-head self-attention with separate query, key, value and output projections."""

    def __init__(self, dim: int, heads: int, kernel: AttentionKernel = "math") -> None:
        super().__init__()
        self.heads, self.kernel = heads, kernel
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (lin(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for lin in (self.query, self.key, self.value))
        if self.kernel == "sdpa":
            h = F.scaled_dot_product_attention(q, k, v)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
            h = att.softmax(dim=-1) @ v
        return self.out(h.transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    """``x + Attn(LN(x))`` then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, kernel: AttentionKernel) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, kernel)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential()
        self.mlp.fc1 = nn.Linear(dim, mlp_ratio * dim)
        self.mlp.act = nn.GELU()
        self.mlp.fc2 = nn.Linear(mlp_ratio * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbedding(nn.Module):
    """Patches → tokens, a class token in front, plus learned position embeddings."""

    def __init__(self, in_channels: int, dim: int, image_size: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, (image_size // patch) ** 2 + 1, dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(x).flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], dim=1) + self.pos


class ViT(nn.Module):
    """A vision transformer; the defaults are DeiT-Ti's (Touvron et al. 2021) with 4×4 patches.

    Published count (Touvron et al. 2021, "Training data-efficient image transformers", Table 1):
    DeiT-Ti, ``dim=192, depth=12, heads=3``, 224×224 inputs with 16×16 patches and 1000
    classes: **5.7M** (this class builds exactly 5,717,416 with those settings). ``vit_tiny`` is
    the same encoder on 32×32 inputs with 4×4 patches (65 tokens) and 10 classes: 5,362,762.

    Args:
        in_channels: input channels.
        num_classes: number of outputs.
        image_size: side of the square input.
        patch: side of a patch (must divide ``image_size``).
        dim: token width.
        depth: encoder blocks.
        heads: attention heads (must divide ``dim``).
        mlp_ratio: hidden units of the MLP per token dimension.
        attention: see :data:`AttentionKernel`.

    Example:
        >>> ViT(3, 10, dim=16, depth=1, heads=2)(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int = 32, patch: int = 4,
                 dim: int = 192, depth: int = 12, heads: int = 3, mlp_ratio: int = 4,
                 attention: AttentionKernel = "math") -> None:
        super().__init__()
        if patch < 1 or image_size % patch:
            raise ConfigError(f"patch {patch} must divide the image side {image_size}")
        if heads < 1 or dim % heads or depth < 1 or mlp_ratio < 1:
            raise ConfigError(f"need heads dividing dim, depth >= 1, mlp_ratio >= 1; got "
                              f"dim={dim}, heads={heads}, depth={depth}, mlp_ratio={mlp_ratio}")
        if attention not in ("math", "sdpa"):
            raise ConfigError(f"attention must be 'math' or 'sdpa', got {attention!r}")
        self.embed = PatchEmbedding(in_channels, dim, image_size, patch)
        self.blocks = nn.Sequential(*(EncoderBlock(dim, heads, mlp_ratio, attention)
                                      for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        record_config(self, in_channels=in_channels, num_classes=num_classes,
                      image_size=image_size, patch=patch, dim=dim, depth=depth, heads=heads,
                      mlp_ratio=mlp_ratio, attention=attention)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.blocks(self.embed(x)))
        return self.head(h[:, 0])
