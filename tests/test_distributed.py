"""Data parallelism on 2 gloo ranks (loopback) against one process holding all the data."""

from __future__ import annotations

import datetime
import os
import socket
import traceback
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from landscape.distributed import resolve_group, shard
from landscape.errors import ConfigError
from landscape.flatness import local_energy, local_entropy, sharpness
from landscape.hessian import HessianOperator, eigenvalues, trace

N, SPLIT = 61, 40  # unequal shards: 40 and 21 samples, ragged batches of 16


def _problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    x = torch.randn(N, 5, dtype=torch.float64)
    return model, x, torch.randint(0, 3, (N,))


def _batches(x: torch.Tensor, y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, len(y), 16)]


def _measure(model: nn.Module, data: object, **kw: object) -> dict[str, torch.Tensor]:
    H = HessianOperator(model, nn.CrossEntropyLoss(), data, **kw)
    v = torch.linspace(-1, 1, H.num_params, dtype=torch.float64)
    top = eigenvalues(H, k=3, seed=0)
    tr = trace(H, num_matvecs=30, method="hutch++", seed=0)
    out = {"hv": H @ v, "top": torch.as_tensor(top.eigenvalues),
           "trace": torch.tensor(tr.estimate), "n": torch.tensor(H.num_data)}
    if kw.get("process_group", "auto") is None:
        return out
    model.eval()
    le = local_energy(model, nn.CrossEntropyLoss(), data, [0.0, 0.1, 0.3], 6, seed=0)
    sh = sharpness(model, nn.CrossEntropyLoss(), data, 0.1, steps=3)
    ent = local_entropy(model, nn.CrossEntropyLoss(), data, [1e4, 1e3], num_chains=2,
                        num_steps=4, burn_in=2, seed=0)
    return {**out, "le_samples": torch.from_numpy(le.samples),
            "entropy": torch.from_numpy(ent.phi_excess_chains),
            "entropy_loss": torch.from_numpy(ent.loss_chains),
            "entropy_base": torch.tensor([ent.base, ent.beta, ent.num_data]),
            "le_errors": torch.from_numpy(le.error_samples),
            "sharp": torch.tensor([sh.loss, sh.error, sh.base]), "direction": sh.direction}


def _worker(rank: int, port: int, out: str) -> None:
    try:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=2, timeout=datetime.timedelta(seconds=60))
        model, x, y = _problem()
        part = slice(0, SPLIT) if rank == 0 else slice(SPLIT, N)
        result = _measure(model, _batches(x[part], y[part]))
        local = _measure(model, _batches(x[part], y[part]), process_group=None)
        result["local_n"] = local["n"]
        from landscape.compare import measure_runs

        try:  # a process pool under a group: refused before anything is read or written
            measure_runs(Path(out) / "none.h5", ["r"], workers=2)
            result["pool"] = torch.tensor(0)
        except ConfigError as err:
            result["pool"] = torch.tensor(int("process group" in str(err)))
        bn = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 3))
        try:  # BatchNorm statistics re-estimated per shard would differ: refused on both ranks
            local_energy(bn.double().eval(), nn.CrossEntropyLoss(), (x[part], y[part]), [0.1],
                         2, seed=0, bn="recalibrate")
            result["recalibrate"] = torch.tensor(0)
        except ConfigError as err:
            result["recalibrate"] = torch.tensor(int("data-parallel" in str(err)))
        try:  # minibatch SGLD cannot run on shards: the same clear error on both ranks
            local_entropy(model.eval(), nn.CrossEntropyLoss(), _batches(x[part], y[part]),
                          [1e3], num_chains=2, num_steps=2, burn_in=0, batch_size=8)
            result["minibatch"] = torch.tensor(0)
        except ConfigError as err:
            result["minibatch"] = torch.tensor(int("minibatch" in str(err)))
        if rank == 1:  # a rank with other weights: a clear error on both ranks
            with torch.no_grad():
                model[0].weight[0, 0] += 1.0
        try:
            HessianOperator(model, nn.CrossEntropyLoss(), (x[part], y[part]))
            result["disagreement"] = torch.tensor(0)
        except ConfigError as err:
            result["disagreement"] = torch.tensor(int("disagree" in str(err)))
        torch.save(result, Path(out) / f"rank{rank}.pt")
        dist.barrier()  # leave together: gloo can abort a process torn down mid-exchange
    except Exception:
        (Path(out) / f"rank{rank}.err").write_text(traceback.format_exc())
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_gloo_ranks_equal_one_process_on_unequal_shards(tmp_path: Path) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    errors = sorted(tmp_path.glob("*.err"))
    assert not errors, errors[0].read_text()
    model, x, y = _problem()
    whole = _measure(model, _batches(x, y))  # one process, all the data
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert int(got["n"]) == N and int(got["local_n"]) == (SPLIT if rank == 0 else N - SPLIT)
        torch.testing.assert_close(got["hv"], whole["hv"], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got["top"], whole["top"], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got["trace"], whole["trace"], rtol=1e-10, atol=1e-12)
        for key in ("le_samples", "le_errors", "sharp", "direction", "entropy", "entropy_loss",
                    "entropy_base"):  # flatness on shards
            torch.testing.assert_close(got[key], whole[key], rtol=1e-10, atol=1e-12)
        assert int(got["disagreement"]) == 1  # raised on both ranks, no hang
        assert int(got["minibatch"]) == 1 and int(got["recalibrate"]) == 1
        assert int(got["pool"]) == 1


def test_without_a_process_group_nothing_is_reduced() -> None:
    assert resolve_group("auto") is None and resolve_group(None) is None
    with pytest.raises(ConfigError):
        resolve_group("everywhere")


def test_shards_cover_the_data_once() -> None:
    parts = [shard(10, r, 3) for r in range(3)]
    assert [len(range(10)[p]) for p in parts] == [4, 3, 3]
    assert sorted(i for p in parts for i in range(10)[p]) == list(range(10))
