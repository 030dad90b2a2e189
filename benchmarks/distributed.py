"""Benchmark of data parallelism (torch.distributed) and of Dask sweeps, ratios in one run.

Sections:
  a) gloo on this machine's CPUs: one Hessian-vector product and a local-energy curve of an MLP
     (64-512-512-10, float32, 8192 samples) with the data on 1 rank and sharded over 2 ranks
     (``torch.multiprocessing.spawn``, loopback): median seconds of repeated calls, the speed-up
     and the bytes each rank all-reduces per product;
  b) with 2+ CUDA devices, the same with NCCL, one GPU per rank (skipped otherwise);
  c) a Dask sweep: ``landscape measure --quick`` of 8 trained runs on a LocalCluster of 1 and of
     2 worker processes (a fresh copy of the study each time): seconds and speed-up;
  d) ``torchrun -m landscape measure --distributed`` end to end on one run (a 64-512-512-10 MLP
     trained on the digits, local energy, sharpness, Hessian top-5 and trace on the whole
     training split) with 1 and 2 gloo ranks: seconds, interpreter start-up included.

On a 2-core machine shared with other jobs expect little from 2 ranks or 2 workers: they share
the same two cores. No thresholds are checked here.

Run: ``OMP_NUM_THREADS=1 python benchmarks/distributed.py [--repeats 5] [--skip-dask]
[--skip-torchrun]``
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

REPO = Path(__file__).resolve().parent.parent


def _problem(device: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)  # the same weights on every rank (the operator checks it)
    model = nn.Sequential(nn.Linear(64, 512), nn.Tanh(), nn.Linear(512, 512), nn.Tanh(),
                          nn.Linear(512, 10)).eval()
    x = torch.randn(8192, 64, generator=g)
    y = torch.randint(0, 10, (8192,), generator=g)
    return model.to(device), x.to(device), y.to(device)


def _worker(rank: int, world: int, port: int, backend: str, repeats: int, out: str) -> None:
    from landscape.distributed import BYTES_REDUCED, shard
    from landscape.flatness import local_energy
    from landscape.hessian import HessianOperator

    torch.set_num_threads(1)
    device = f"cuda:{rank}" if backend == "nccl" else "cpu"
    if world > 1:
        dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world, timeout=datetime.timedelta(seconds=120))
    model, x, y = _problem(device)
    part = shard(len(y), rank, world)
    data = [(x[part][i:i + 1024], y[part][i:i + 1024]) for i in range(0, len(y[part]), 1024)]
    H = HessianOperator(model, nn.CrossEntropyLoss(), data, method="double_backprop")
    v = torch.randn(H.num_params, device=device)
    H @ v  # warm up
    times, before = [], BYTES_REDUCED["total"]
    for _ in range(repeats):
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        H @ v
        times.append(time.perf_counter() - t0)
    per_product = (BYTES_REDUCED["total"] - before) / repeats
    t0 = time.perf_counter()
    local_energy(model, nn.CrossEntropyLoss(), data, [0.05, 0.1], 8, seed=0)
    le = time.perf_counter() - t0
    if rank == 0:
        Path(out).write_text(f"{statistics.median(times)} {le} {per_product} {H.num_params}")
    if world > 1:
        dist.destroy_process_group()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(world: int, backend: str, repeats: int) -> tuple[float, float, float, int]:
    with tempfile.TemporaryDirectory() as d:
        out = str(Path(d) / "r.txt")
        mp.spawn(_worker, args=(world, _port(), backend, repeats, out), nprocs=world)
        hv, le, nbytes, P = Path(out).read_text().split()
    return float(hv), float(le), float(nbytes), int(P)


def section_ranks(backend: str, repeats: int) -> None:
    one, two = _run(1, backend, repeats), _run(2, backend, repeats)
    print(f"{'a' if backend == 'gloo' else 'b'}) {backend}: MLP with {one[3]:,} parameters, "
          "8192 samples, float32")
    print(f"   H@v: 1 rank {one[0] * 1e3:.1f} ms, 2 ranks {two[0] * 1e3:.1f} ms "
          f"(speed-up x{one[0] / two[0]:.2f}); all-reduced per product and rank: "
          f"{two[2] / 2**20:.2f} MiB")
    print(f"   local energy (2 sigma x 8 draws): 1 rank {one[1]:.2f} s, 2 ranks {two[1]:.2f} s "
          f"(speed-up x{one[1] / two[1]:.2f})", flush=True)


def _cli(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "landscape", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)


def section_dask() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        print("c) Dask not installed (pip install -e '.[cluster]'): sweep skipped")
        return
    with tempfile.TemporaryDirectory() as d:
        study = Path(d) / "s.h5"
        for seed in range(8):
            _cli("train", "--dataset", "digits", "--width", "32", "--epochs", "3", "--seed",
                 str(seed), "--out", str(study), "--run", f"r{seed}", "--quiet")
        seconds = {}
        for n in (1, 2):
            copy = Path(d) / f"s{n}.h5"
            shutil.copy(study, copy)
            t0 = time.perf_counter()
            _cli("measure", str(copy), "--quick", "--quiet", "--scheduler", f"local:{n}")
            seconds[n] = time.perf_counter() - t0
    print(f"c) Dask sweep, landscape measure --quick of 8 digits MLPs: 1 worker {seconds[1]:.1f}"
          f" s, 2 workers {seconds[2]:.1f} s (speed-up x{seconds[1] / seconds[2]:.2f}; cluster "
          "start-up included)", flush=True)


def section_torchrun() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    measures = "local_energy,sharpness,hessian_top,hessian_trace"
    with tempfile.TemporaryDirectory() as d:
        study = Path(d) / "s.h5"
        _cli("train", "--dataset", "digits", "--width", "512", "--depth", "2", "--epochs", "3",
             "--out", str(study), "--run", "r", "--quiet")
        seconds = {}
        for n in (1, 2):
            copy = Path(d) / f"s{n}.h5"
            shutil.copy(study, copy)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "torch.distributed.run",
                            f"--nproc_per_node={n}", "--master_addr=127.0.0.1",
                            f"--master_port={_port()}", "-m", "landscape", "measure", str(copy),
                            "--measures", measures, "--quiet", "--distributed"],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            seconds[n] = time.perf_counter() - t0
    print(f"d) torchrun landscape measure --distributed ({measures}; digits MLP 64-512-512-10, "
          f"whole training split): 1 rank {seconds[1]:.1f} s, 2 ranks {seconds[2]:.1f} s "
          f"(speed-up x{seconds[1] / seconds[2]:.2f})", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--skip-dask", action="store_true")
    p.add_argument("--skip-torchrun", action="store_true")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{torch.cuda.device_count()} CUDA devices")
    section_ranks("gloo", args.repeats)
    if torch.cuda.device_count() >= 2:
        section_ranks("nccl", args.repeats)
    else:
        print("b) fewer than 2 CUDA devices: NCCL skipped")
    if not args.skip_dask:
        section_dask()
    if not args.skip_torchrun:
        section_torchrun()


if __name__ == "__main__":
    main()
