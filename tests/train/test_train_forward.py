"""train(forward=): token-level training on padded sequences, recorded and rebuilt by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from landscape.data._dataset import LabelledDataset
from landscape.errors import ConfigError
from landscape.forward import register_forward
from landscape.models import register_model
from landscape.objectives import get
from landscape.store import load_model, run_attrs
from landscape.train import TrainConfig, train
from tests.padded import Tagger


def tokens(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``[T, D + 2]``: features, the token's class, and 1 at real tokens (0 at padding)."""
    x, _ = batch
    mask = x[..., -1] > 0
    out = model(x[..., :-2], mask)
    return out[mask], x[..., -2].long()[mask]


register_forward("test_tokens", tokens)
register_model("test_tagger", Tagger, overwrite=True)


def _sequences(n: int = 24, t: int = 5, dim: int = 3, seed: int = 0) -> LabelledDataset:
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, t + 1, (n,), generator=gen)
    mask = torch.arange(t)[None, :] < lengths[:, None]
    feats = torch.randn(n, t, dim, generator=gen)
    cls = (feats[..., 0] > 0).long() + (feats[..., 1] > 1).long()  # 3 classes
    x = torch.cat([feats, cls[..., None].float(), mask[..., None].float()], dim=-1)
    x[~mask] = torch.tensor([9.0] * dim + [0.0, 0.0])  # padding: garbage features, class 0
    y = torch.zeros(n, dtype=torch.long)  # per-sequence labels are unused by this forward
    return LabelledDataset(x=x, y=y, y_clean=y.clone(), index=torch.arange(n), num_classes=3,
                           name="sequences/train")


def test_token_level_training_records_its_forward(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from landscape.compare import measure_minimum
    from landscape.hessian import HessianOperator

    data = _sequences()
    torch.manual_seed(0)
    model = Tagger(dim=3, hidden=4, classes=3)
    init = Tagger(dim=3, hidden=4, classes=3)
    init.load_state_dict(model.state_dict())
    with torch.no_grad():  # the oracle: mean CE over all real tokens at the initialisation
        out, y = tokens(init, (data.x, data.y))
        want = float(nn.functional.cross_entropy(out, y))
        num_tokens = len(y)
    res = train(model, get("ce"), data, config=TrainConfig(epochs=3, batch_size=8, lr=0.5),
                study=tmp_path / "s.h5", run="r", progress=False, forward="test_tokens")
    assert res.history["train_loss"][0] == pytest.approx(want, rel=1e-6)
    assert res.history["train_loss"][-1] < want
    assert run_attrs(tmp_path / "s.h5", "r")["forward"] == "test_tokens"
    # the measurement rebuilds the model and the forward from their names: Hessian over tokens
    monkeypatch.setattr("landscape._measure.load_run_data", lambda *a, **k: data)
    m = measure_minimum(tmp_path / "s.h5", "r", measures=["hessian_top"],
                        settings={"hessian_top": {"k": 2, "tol": 1e-4}}, dtype="float64")
    loaded = load_model(tmp_path / "s.h5", "r", dtype=torch.float64)
    H = HessianOperator(loaded, get("ce"), (data.x.double(), data.y), forward=tokens)
    assert H.num_data == num_tokens
    dense = H @ torch.eye(H.num_params, dtype=torch.float64)
    top = torch.linalg.eigvalsh(dense).flip(0)[:2]
    got = torch.as_tensor(m.spectrum.top.eigenvalues, dtype=torch.float64)
    torch.testing.assert_close(got, top, rtol=1e-5, atol=1e-8)


def test_forward_needs_a_name_when_stored_and_a_loss_objective(tmp_path: Path) -> None:
    data = _sequences(8)

    def anonymous(model: nn.Module, batch: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        return tokens(model, batch)

    with pytest.raises(ConfigError, match="register"):
        train(Tagger(), get("ce"), data, config=TrainConfig(epochs=1), study=tmp_path / "a.h5",
              run="r", progress=False, forward=anonymous)
    with pytest.raises(ConfigError, match="loss of"):
        train(Tagger(), get("sam"), data, config=TrainConfig(epochs=1), progress=False,
              forward=tokens)
    res = train(Tagger(), get("ce"), data, config=TrainConfig(epochs=1), progress=False,
                forward=anonymous)  # not stored: any callable
    assert res.history["train_acc"].shape == (2,)
