"""session_gnn: the session graph by hand, the parameter count's closed form, and its Hessian."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from landscape.errors import ConfigError
from landscape.hessian import HessianOperator
from landscape.models import build
from landscape.models.session_gnn import SessionGNN, session_graph


def test_session_graph_of_a_hand_worked_sequence() -> None:
    # clicks 1 2 3 2 4: nodes 1,2,3,4; edges 1->2, 2->3, 3->2, 2->4
    nodes, alias, A, mask = session_graph(torch.tensor([[1, 2, 3, 2, 4, 0, 0]]))
    assert nodes[0].tolist() == [1, 2, 3, 4, 0, 0, 0]
    assert alias[0].tolist() == [0, 1, 2, 1, 3, 0, 0]
    assert mask[0].tolist() == [True] * 4 + [False] * 3
    n = 7
    a_in, a_out = A[0, :, :n], A[0, :, n:]
    want_in = torch.zeros(n, n)
    want_in[1, 0] = want_in[1, 2] = 0.5  # item 2 entered from 1 and 3 (in-degree 2)
    want_in[2, 1] = 1.0                  # item 3 from 2
    want_in[3, 1] = 1.0                  # item 4 from 2
    want_out = torch.zeros(n, n)
    want_out[0, 1] = 1.0                 # 1 -> 2
    want_out[1, 2] = want_out[1, 3] = 0.5  # 2 -> 3 and 2 -> 4 (out-degree 2)
    want_out[2, 1] = 1.0                 # 3 -> 2
    assert torch.equal(a_in, want_in) and torch.equal(a_out, want_out)


def test_repeated_clicks_and_a_batch_with_distinct_rows() -> None:
    x = torch.tensor([[5, 5, 5, 0], [4, 3, 2, 1], [9, 0, 0, 0]])
    nodes, alias, A, mask = session_graph(x)
    assert nodes.tolist() == [[5, 0, 0, 0], [1, 2, 3, 4], [9, 0, 0, 0]]
    assert alias.tolist() == [[0, 0, 0, 0], [3, 2, 1, 0], [0, 0, 0, 0]]
    assert A[0, 0, 0] == 1 and A[0, 0, 4] == 1  # a self-loop, counted once
    assert A[2].sum() == 0 and mask.sum(dim=1).tolist() == [1, 4, 1]
    assert torch.equal(nodes.gather(1, alias)[x > 0], x[x > 0])  # every click maps to its item


@pytest.mark.parametrize(("V", "H"), [(50, 8), (500, 16)])
def test_parameter_count_closed_form(V: int, H: int) -> None:
    model = build("session_gnn", (19,), V, seed=0, hidden=H, heads=2)
    assert sum(p.numel() for p in model.parameters()) == (V + 1) * H + 19 * H * H + 20 * H


def test_scores_every_item_and_refuses_float_inputs() -> None:
    model = SessionGNN(num_items=30, hidden=8)
    x = torch.tensor([[1, 2, 3, 0], [30, 0, 0, 0]])
    assert model(x).shape == (2, 30)
    with pytest.raises(ConfigError, match="integer item ids"):
        model(x.float())
    with pytest.raises(ConfigError, match="click sequences"):
        build("session_gnn", (1, 8, 8), 10)


def test_padding_does_not_change_the_scores() -> None:
    model = SessionGNN(num_items=20, hidden=8).double().eval()
    short = model(torch.tensor([[3, 4, 3]]))
    padded = model(torch.tensor([[3, 4, 3, 0, 0, 0]]))
    torch.testing.assert_close(short, padded, rtol=1e-12, atol=1e-12)


def test_hvp_equals_the_dense_float64_hessian() -> None:
    torch.manual_seed(0)
    model = SessionGNN(num_items=6, hidden=4, heads=2).double()
    x = torch.tensor([[1, 2, 3, 2], [4, 5, 0, 0], [6, 1, 6, 0]])
    y = torch.tensor([3, 0, 5])
    loss_fn = nn.CrossEntropyLoss()
    names = [n for n, _ in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    shapes = [p.shape for p in model.parameters()]

    def loss(w: torch.Tensor) -> torch.Tensor:
        parts, k = {}, 0
        for n, s in zip(names, shapes):
            parts[n] = w[k:k + s.numel()].reshape(s)
            k += s.numel()
        return loss_fn(functional_call(model, parts, (x,)), y)

    dense = torch.autograd.functional.hessian(loss, flat)
    H = HessianOperator(model, loss_fn, (x, y))
    v = torch.randn(flat.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(H @ v, dense @ v, rtol=1e-9, atol=1e-10)
