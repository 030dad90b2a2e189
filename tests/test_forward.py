"""The structured-batch contract: default and padded-sequence forwards, the registry, moving."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from landscape.errors import ConfigError
from landscape.forward import (
    batch_size,
    batch_tensors,
    default_forward,
    forward_name,
    get_forward,
    move_batch,
    padded_sequence_forward,
    register_forward,
    resolve_forward,
)


class _Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * mask.unsqueeze(-1)


def test_default_forward_is_model_of_first_entry() -> None:
    model = nn.Linear(2, 3)
    x, y = torch.randn(5, 2), torch.arange(5)
    out, t = default_forward(model, (x, y, "ignored"))
    assert torch.equal(out, model(x)) and t is y and batch_size(t) == 5
    with pytest.raises(ConfigError, match="forward="):
        default_forward(model, {"x": x})


def test_padded_sequence_counts_tokens() -> None:
    mask = torch.tensor([[True, True, True], [True, False, False]])
    batch = {"inputs": torch.randn(2, 3, 2), "mask": mask,
             "targets": torch.tensor([[0, 1, 2], [1, 0, 0]]), "lengths": torch.tensor([3, 1])}
    out, y = padded_sequence_forward(_Tagger(), batch)
    assert out.shape == (4, 3) and y.tolist() == [0, 1, 2, 1] and batch_size(y) == 4
    with pytest.raises(ConfigError, match="disagree"):
        padded_sequence_forward(_Tagger(), {**batch, "lengths": torch.tensor([3, 2])})
    with pytest.raises(ConfigError, match="lacks"):
        padded_sequence_forward(_Tagger(), {"inputs": batch["inputs"]})


def test_registry_names_and_errors() -> None:
    assert get_forward("default") is default_forward
    assert forward_name(None) == "default" and forward_name(padded_sequence_forward) == \
        "padded_sequence"
    assert forward_name(lambda m, b: (m(b), b)) is None
    assert resolve_forward("padded_sequence") is padded_sequence_forward
    assert resolve_forward(None) is default_forward

    def mine(model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        return model(batch["x"]), batch["y"]

    register_forward("test_mine", mine)
    register_forward("test_mine", mine)  # same function again: fine
    assert forward_name(mine) == "test_mine"
    with pytest.raises(ConfigError, match="already registered"):
        register_forward("test_mine", default_forward)
    with pytest.raises(ConfigError, match="unknown forward"):
        get_forward("os.system")
    with pytest.raises(ConfigError, match="callable"):
        resolve_forward(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="no length"):
        batch_size(torch.tensor(1.0))


def test_move_batch_casts_floats_only() -> None:
    batch = {"inputs": torch.ones(2, 2), "mask": torch.ones(2, dtype=torch.bool),
             "more": (torch.zeros(1), torch.arange(2))}
    moved = move_batch(batch, torch.device("cpu"), torch.float64)
    assert moved["inputs"].dtype == torch.float64 and moved["mask"].dtype == torch.bool
    assert moved["more"][0].dtype == torch.float64 and moved["more"][1].dtype == torch.long
    assert [t.shape for t in batch_tensors(moved)] == [(2, 2), (2,), (1,), (2,)]
