r"""A session-based recommender of the SR-GNN / PIA-GNN family, on padded click sequences.

Wu et al. (AAAI 2019, SR-GNN) turn a session's clicks into a directed graph over its distinct
items, run a gated graph layer over it and read the session out by soft attention; Zhang, Zhou,
Wang and Lu (Entropy 2021, PIA-GNN) add a self-attention layer for long-range dependencies and
an interest readout. :class:`SessionGNN` is a compact member of that family:

1. :func:`session_graph` builds, from a padded sequence ``x`` ``[B, L]`` (item ids ``1..V``,
   ``0`` = padding on the right), the distinct items as nodes (ascending, as ``np.unique`` in
   SR-GNN), the node of every click (``alias``) and the normalised adjacency
   :math:`A = [A^{in} \,|\, A^{out}]`, ``[B, n, 2n]``, with
   :math:`A^{in}_{ij} = 1/\deg^{in}(i)` for an edge :math:`j \to i` and
   :math:`A^{out}_{ij} = 1/\deg^{out}(i)` for an edge :math:`i \to j` (an edge for each pair of
   consecutive clicks, counted once);
2. a gated graph layer (GRU update of node states from :math:`A^{in} h W_{in}` and
   :math:`A^{out} h W_{out}`), ``steps`` times;
3. the click states ``h[alias]``, a residual self-attention layer over them (key padding mask)
   and the soft-attention readout :math:`a = \sum_t \alpha_t h_t`,
   :math:`\alpha_t = q^\top\sigma(W_1 h_{last} + W_2 h_t)`, session vector
   :math:`s = W_3[a; h_{last}]`;
4. scores :math:`s^\top e_v` against the item embeddings (shared with the input), one class per
   item: item ``v`` is class ``v − 1``.

Parameters (``V`` items, width ``H``): :math:`(V+1)H + 19H^2 + 20H` — the embedding
(``(V+1)H``, row 0 the padding), the gated layer (:math:`11H^2 + 8H`), the readout
(:math:`4H^2 + 4H`), the self-attention (:math:`4H^2 + 4H`) and its LayerNorm (``2H``) and a
final LayerNorm of the session vector (``2H``). All weights start uniform in
:math:`\pm 1/\sqrt H` (SR-GNN's initialisation).

Measuring it: every measure of landscape runs on a stored ``session_gnn`` run (``landscape
measure``); their error is the top-1 error ``1 − Recall@1`` (a perturbation that moves the target
out of first place counts; ``1 − Recall@20`` is near 0 at any reasonable minimum and would hide
the landscape); Recall@20 and MRR@20 are in the training history. Memory of one Hessian-vector
product at ``V = 10 000`` items, ``H = 64`` (719,168 parameters; float32, CPU, peak RSS
increase): 473 MiB over 512 prefixes, 1539 MiB over 2048 (about 0.75 MiB per prefix, some 19
times its logits): pass the data as a list of batches to bound it.

Example:
    >>> import torch
    >>> model = SessionGNN(num_items=50, hidden=8)
    >>> x = torch.tensor([[1, 2, 3, 2, 4], [5, 6, 0, 0, 0]])
    >>> model(x).shape
    torch.Size([2, 50])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from landscape.errors import ConfigError
from landscape.models._config import record_config


def session_graph(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The session graphs of a batch of padded click sequences, vectorised.

    Args:
        x: int64 ``[B, L]``, item ids ``>= 1`` left-aligned, ``0`` padding on the right.

    Returns:
        ``nodes`` ``[B, L]`` (distinct items ascending, 0-padded), ``alias`` ``[B, L]`` (the node
        index of each click; 0 at padding), ``A`` ``[B, L, 2L]`` (``[A_in | A_out]``, see the
        module doc) and ``node_mask`` ``[B, L]`` (``True`` at real nodes).

    Example:
        >>> nodes, alias, A, _ = session_graph(torch.tensor([[1, 2, 3, 2, 4]]))
        >>> nodes[0].tolist(), alias[0].tolist()
        ([1, 2, 3, 4, 0], [0, 1, 2, 1, 3])
        >>> A[0, 1, :4].tolist()   # item 2 is entered from items 1 and 3
        [0.5, 0.0, 0.5, 0.0]
    """
    if x.ndim != 2 or x.dtype not in (torch.int64, torch.int32):
        raise ConfigError(f"sessions must be an integer tensor [B, L], got {x.dtype} "
                          f"{list(x.shape)}")
    B, L = x.shape
    x = x.long()
    real = x > 0
    big = torch.iinfo(torch.int64).max
    keyed = torch.where(real, x, torch.full_like(x, big))
    ordered, _ = torch.sort(keyed, dim=1)
    first = torch.ones_like(ordered, dtype=torch.bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first &= ordered != big
    rank = torch.cumsum(first, dim=1) - 1
    nodes = torch.zeros_like(x)
    nodes.scatter_(1, torch.where(first, rank, torch.full_like(rank, L - 1)),
                   torch.where(first, ordered, torch.zeros_like(ordered)))
    counts = first.sum(dim=1, keepdim=True)
    node_mask = torch.arange(L, device=x.device).expand(B, L) < counts
    table = torch.where(node_mask, nodes, torch.full_like(nodes, big))
    alias = torch.searchsorted(table, keyed.contiguous()).clamp_max(L - 1)
    alias = torch.where(real, alias, torch.zeros_like(alias))
    edge = real[:, :-1] & real[:, 1:]
    src, dst = alias[:, :-1], alias[:, 1:]
    adj = torch.zeros(B, L, L, device=x.device)
    batch = torch.arange(B, device=x.device).unsqueeze(1).expand_as(src)
    adj[batch[edge], src[edge], dst[edge]] = 1.0  # adj[b, i, j]: an edge i -> j
    indeg = adj.sum(dim=1).clamp_min(1.0)
    outdeg = adj.sum(dim=2).clamp_min(1.0)
    a_in = adj.transpose(1, 2) / indeg.unsqueeze(2)
    a_out = adj / outdeg.unsqueeze(2)
    return nodes, alias, torch.cat([a_in, a_out], dim=2), node_mask


class GatedGraphLayer(nn.Module):
    """One gated graph step (Li et al. 2016, as in SR-GNN): a GRU update of the node states."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.edge_in = nn.Linear(hidden, hidden)
        self.edge_out = nn.Linear(hidden, hidden)
        self.input_gates = nn.Linear(2 * hidden, 3 * hidden)
        self.hidden_gates = nn.Linear(hidden, 3 * hidden)

    def forward(self, h: Tensor, A: Tensor) -> Tensor:
        n = h.shape[1]
        a_in, a_out = A[:, :, :n].to(h.dtype), A[:, :, n:].to(h.dtype)
        m = torch.cat([a_in @ self.edge_in(h), a_out @ self.edge_out(h)], dim=2)
        i_r, i_z, i_n = self.input_gates(m).chunk(3, dim=2)
        h_r, h_z, h_n = self.hidden_gates(h).chunk(3, dim=2)
        reset, update = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
        new = torch.tanh(i_n + reset * h_n)
        return new + update * (h - new)


class SelfAttention(nn.Module):
    """Multi-head self-attention with a key padding mask, written out (double backward, vmap and
    functional calls work through it, unlike the fused kernel of ``nn.MultiheadAttention``)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out_proj = nn.Linear(hidden, hidden)

    def forward(self, h: Tensor, pad: Tensor) -> Tensor:
        B, L, H = h.shape
        q, k, v = (t.reshape(B, L, self.heads, H // self.heads).transpose(1, 2)
                   for t in self.qkv(h).chunk(3, dim=2))
        logits = (q @ k.transpose(2, 3)) / math.sqrt(H // self.heads)
        logits = logits.masked_fill(pad[:, None, None, :], float("-inf"))
        mixed = torch.softmax(logits, dim=-1) @ v
        return self.out_proj(mixed.transpose(1, 2).reshape(B, L, H))


class SessionGNN(nn.Module):
    """Session graph → gated graph layer → self-attention + soft-attention readout → item scores.

    Args:
        num_items: ``V``; inputs hold ids ``1..V``, outputs are ``V`` scores (class ``v − 1``).
        hidden: width ``H``. Default ``64`` (a compact SR-GNN; the paper uses 100).
        steps: gated graph steps. Default ``1`` (SR-GNN's default).
        heads: self-attention heads (must divide ``hidden``). Default ``2``.
        max_length: ``L``, the click window (recorded; the model takes any ``L``).
    """

    def __init__(self, num_items: int, hidden: int = 64, steps: int = 1, heads: int = 2,
                 max_length: int = 19) -> None:
        super().__init__()
        if num_items < 2 or hidden < 1 or steps < 1 or heads < 1 or hidden % heads:
            raise ConfigError(f"need num_items >= 2, hidden >= 1 divisible by heads, steps >= 1; "
                              f"got {num_items}, {hidden}, {heads}, {steps}")
        self.num_items, self.steps = int(num_items), int(steps)
        self.embedding = nn.Embedding(num_items + 1, hidden, padding_idx=0)
        self.gnn = GatedGraphLayer(hidden)
        self.attention = nn.ModuleDict({
            "self_attn": SelfAttention(hidden, heads),
            "norm": nn.LayerNorm(hidden),
            "w_last": nn.Linear(hidden, hidden),
            "w_click": nn.Linear(hidden, hidden),
            "q": nn.Linear(hidden, 1, bias=False),
            "combine": nn.Linear(2 * hidden, hidden),
            "out_norm": nn.LayerNorm(hidden),
        })
        bound = 1.0 / math.sqrt(hidden)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "norm" not in name:
                    p.uniform_(-bound, bound)
        record_config(self, num_items=num_items, hidden=hidden, steps=steps, heads=heads,
                      max_length=max_length)

    def session_vectors(self, x: Tensor) -> Tensor:
        """The session representation ``s`` ``[B, H]`` of padded click sequences ``x``."""
        nodes, alias, A, _ = session_graph(x)
        h = self.embedding(nodes)
        for _ in range(self.steps):
            h = self.gnn(h, A)
        clicks = torch.gather(h, 1, alias.unsqueeze(2).expand(-1, -1, h.shape[2]))
        pad = x <= 0
        att = self.attention
        clicks = att["norm"](clicks + att["self_attn"](clicks, pad))
        last_pos = (~pad).sum(dim=1).clamp_min(1) - 1
        last = clicks[torch.arange(x.shape[0], device=x.device), last_pos]
        alpha = att["q"](torch.sigmoid(att["w_last"](last).unsqueeze(1) + att["w_click"](clicks)))
        alpha = alpha.masked_fill(pad.unsqueeze(2), 0.0)
        pooled = (alpha * clicks).sum(dim=1)
        return att["out_norm"](att["combine"](torch.cat([pooled, last], dim=1)))

    def forward(self, x: Tensor) -> Tensor:
        if x.is_floating_point():
            raise ConfigError("SessionGNN takes integer item ids [B, L]; got floating inputs "
                              "(was the data cast to the model's dtype?)")
        return self.session_vectors(x) @ self.embedding.weight[1:].T
