"""Measure the Hessian spectrum of a stored run and write it into its study file.

:func:`measure_spectrum` rebuilds the run's model and training data (optionally a fixed seeded
subset, whose indices are stored), builds the Hessian (or GGN) of the training loss for a
parameter block, and computes any of: the top-k and bottom-k eigenpairs, the trace, the spectral
density (raw SLQ plus a smoothed derived copy). Each result is written as soon as it is computed,
under ``runs/<run>/measurements/<name>/<result>`` with the settings that produced it; a rerun with
the same settings loads what is stored instead of recomputing it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal

import torch

from landscape._measure import batches, measurement_group, prepare, same_settings
from landscape.errors import ConfigError, StoreError
from landscape.hessian.density import SpectralDensityResult, spectral_density
from landscape.hessian.eigen import EigenResult, eigenvalues
from landscape.hessian.ggn import GGNOperator
from landscape.hessian.hessian_operator import HessianOperator
from landscape.hessian.trace import TraceResult, trace
from landscape.store import Study, load_result, save_result
from landscape.store.writer import writes_study

Curvature = Literal["hessian", "ggn"]


@dataclass(frozen=True)
class SpectrumMeasurement:
    """What :func:`measure_spectrum` computed or found stored (``None`` where not asked)."""

    top: EigenResult | None
    bottom: EigenResult | None
    trace: TraceResult | None
    density: SpectralDensityResult | None
    num_params: int
    num_samples: int
    recomputed: tuple[str, ...]


@writes_study("path")
def measure_spectrum(path: str | os.PathLike[str], run: str, *, name: str = "hessian",
                     curvature: Curvature = "hessian", params: str | None = None,
                     topk: int = 0, bottomk: int = 0, tol: float = 1e-4,
                     trace_matvecs: int = 0, num_probes: int = 0, num_steps: int = 80,
                     num_samples: int | None = None, batch_size: int | None = None,
                     dtype: torch.dtype | None = None, device: str | None = None,
                     seed: int = 0, overwrite: bool = False,
                     data_dir: str | os.PathLike[str] | None = None,
                     other_settings: Literal["replace", "raise"] = "replace"
                     ) -> SpectrumMeasurement:
    """Top-k/bottom-k eigenpairs, trace and spectral density of a stored run's curvature.

    Args:
        path, run: the study file and run.
        name: measurement group name (several measurements of one run need distinct names).
        curvature: ``"hessian"`` or ``"ggn"`` (generalised Gauss–Newton).
        params: a glob over parameter names selecting a block (e.g. ``"hidden.0.*"``).
        topk, bottomk: number of largest / smallest eigenpairs (0: skip).
        tol: relative residual tolerance of the eigenpairs.
        trace_matvecs: products for the Hutch++ trace estimate (0: skip).
        num_probes, num_steps: SLQ probes and Lanczos steps for the density (0 probes: skip).
        num_samples: measure on a fixed stratified subset of this size (seeded by ``seed``).
        batch_size: stream the data in batches of this size (default: one batch in memory).
        dtype, device: precision and device of the model for the measurement.
        seed: seeds the subset, the start vectors and the probes.
        overwrite: recompute results already stored.
        data_dir: where the run's dataset files are, if they moved.
        other_settings: what to do with a result of the same name stored with other settings:
            recompute and replace it, or raise :class:`~landscape.errors.StoreError` (what
            :func:`~landscape.compare.measure_minimum` asks for without ``overwrite``).

    Raises:
        StoreError: a result stored with other settings and ``other_settings="raise"``.
        StudyLockedError: another process is writing the study.
    """
    if topk < 0 or bottomk < 0 or trace_matvecs < 0 or num_probes < 0:
        raise ConfigError("topk, bottomk, trace_matvecs and num_probes must be >= 0")
    if not (topk or bottomk or trace_matvecs or num_probes):
        raise ConfigError("nothing to measure: ask for topk, bottomk, trace_matvecs or "
                          "num_probes")
    setup = prepare(path, run, num_samples=num_samples, seed=seed, dtype=dtype, device=device,
                    data_dir=data_dir)
    data = batches(setup.data, setup.model, batch_size)
    op_cls = HessianOperator if curvature == "hessian" else GGNOperator
    H = op_cls(setup.model, setup.loss_fn, data, params=params, forward=setup.forward)
    common = {"curvature": curvature, "params": params, "seed": seed,
              "num_samples": len(setup.data), "batch_size": batch_size}
    jobs: dict[str, tuple[dict[str, Any], Any]] = {}
    if topk:
        jobs["top"] = ({**common, "k": topk, "which": "largest", "tol": tol},
                       lambda: eigenvalues(H, k=topk, which="largest", tol=tol, seed=seed))
    if bottomk:
        jobs["bottom"] = ({**common, "k": bottomk, "which": "smallest", "tol": tol},
                          lambda: eigenvalues(H, k=bottomk, which="smallest", tol=tol,
                                              seed=seed))
    if trace_matvecs:
        jobs["trace"] = ({**common, "num_matvecs": trace_matvecs, "method": "hutch++"},
                         lambda: trace(H, num_matvecs=trace_matvecs, method="hutch++",
                                       seed=seed))
    if num_probes:
        jobs["density"] = ({**common, "num_probes": num_probes, "num_steps": num_steps},
                           lambda: spectral_density(H, num_probes=num_probes,
                                                    num_steps=num_steps, seed=seed))
    results: dict[str, Any] = {}
    recomputed: list[str] = []
    for key, (settings, compute) in jobs.items():
        with Study(path, "a") as study:
            group = measurement_group(study, run, name, setup)
            if not overwrite and same_settings(group, key, settings):
                results[key] = load_result(group[key])
                continue
            if key in group and other_settings == "raise" and not overwrite:
                raise StoreError(f"{group.name}/{key} was measured with other settings (stored "
                                 f"{group[key].attrs.get('settings')}, asked {settings}); "
                                 "overwrite to replace it")
        result = compute()
        recomputed.append(key)
        with Study(path, "a") as study:
            group = measurement_group(study, run, name, setup)
            save_result(group, key, result, attrs={"settings": json.dumps(settings),
                                                   "num_params": H.num_params,
                                                   "device": str(H.device)})
            if key == "density":
                save_result(group, "density_smoothed", result.density(preset="ghorbani"),
                            attrs={"derived_from": "density", "preset": "ghorbani"})
        results[key] = result
    return SpectrumMeasurement(results.get("top"), results.get("bottom"), results.get("trace"),
                               results.get("density"), H.num_params, len(setup.data),
                               tuple(recomputed))
