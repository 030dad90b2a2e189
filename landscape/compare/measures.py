"""Every measurement of one stored minimum, written into its study file and resumable.

:func:`measure_minimum` takes a trained run of a study file and measures the minimum it reached
with the toolkit's estimators, always on the run's full training set and under the loss it was
trained with (:func:`landscape._measure.prepare`):

- local energy δE(σ) of the loss and of the training error under multiplicative weight noise
  (:func:`~landscape.flatness.local_energy_to_study`, resumable per σ);
- the flat-minimum width: the σ where δE of the training error reaches a threshold, with its
  confidence interval (:func:`~landscape.flatness.flat_minimum_width`);
- worst-case sharpness in an L2 ball of radius ρ by projected gradient ascent
  (:func:`~landscape.flatness.sharpness`);
- the local entropy ΔΦ(γ) by coupled SGLD chains at a few couplings γ
  (:func:`~landscape.flatness.local_entropy_to_study`);
- the Hessian's top eigenvalues, its trace (Hutch++) and its spectral density (SLQ)
  (:func:`~landscape.hessian.study.measure_spectrum`);
- the generalisation gap from the run's history (no computation).

Each result is stored under ``runs/<run>/measurements/`` with the settings that produced it
(``local_energy``, ``flatness/width``, ``flatness/sharpness``, ``local_entropy``, ``hessian/*``),
so calling again with the same :class:`MeasureConfig` reads them back instead of recomputing; a
stored result made with other settings raises :class:`~landscape.errors.StoreError` unless
``overwrite=True``.

Comparability. The loss-based measures (δE of the loss, sharpness, local entropy, Hessian) are in
the units of each run's own training objective, so they compare minima of one objective well and
minima of different objectives only loosely (MSE and CE losses have different scales); the
training-error measures (δE of the error, the width) share one scale across objectives.

Example:
    >>> # r = measure_minimum("results/demo.h5", "mlp-ce-seed0", config=MeasureConfig.quick())
    >>> # r.scalars()["width"], r.gap.error_gap
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape.errors import ConfigError
from landscape.flatness import (
    LocalEnergyResult,
    LocalEntropyResult,
    SharpnessResult,
    WidthResult,
    flat_minimum_width,
    local_energy_to_study,
    local_entropy_to_study,
    read_local_energy,
    sharpness,
)
from landscape.flatness.local_entropy import check_gammas
from landscape.hessian.study import SpectrumMeasurement, measure_spectrum
from landscape.store import Study, load_result, read_history, run_attrs, save_result
from landscape.store.writer import writes_study

#: Names of the stored measurements under ``runs/<run>/measurements/``.
LOCAL_ENERGY = "local_energy"
FLATNESS = "flatness"
LOCAL_ENTROPY = "local_entropy"
HESSIAN = "hessian"

#: The stages of :func:`measure_minimum`, in the order they run (for progress bars).
STAGES = ("local_energy", "width", "sharpness", "local_entropy", "hessian")


@dataclass(frozen=True)
class MeasureConfig:
    """Settings of every measurement of :func:`measure_minimum`.

    The defaults are sized for the digits MLP of ``landscape demo`` (64-64-64-10, 8970 weights,
    1348 training samples): about 6 s per minimum on one CPU thread, two thirds of it SGLD.
    :meth:`quick` is a CI-sized preset (well under a second per minimum, on 400 samples); its
    estimates are rough.

    Attributes:
        sigmas: noise scales σ of the local-energy curve (multiplicative noise, Pittorino et al.
            2021: ``w ← w ⊙ (1 + σ z)``). Default 0 … 0.5 in 8 steps.
        num_draws: noise draws per σ of the local-energy curve (the same draws at every σ).
            Default 64.
        reference_sigma: the σ at which the curve is summarised into one number (must be one
            of ``sigmas``). Default 0.3, where the training error of the demo minima rises by a
            few per cent.
        width_threshold: increase of the training error that defines the edge of the minimum
            for the flat-minimum width. Default 0.05 (five percentage points).
        width_bounds: ``(lo, hi)`` σ range searched for the width. Default ``(0.01, 3.0)``.
        width_draws: noise draws per σ of the width search. Default 32.
        width_rtol: relative precision of the width's bisection. Default 0.01.
        confidence: level of the width's confidence interval. Default 0.95.
        rho: radius ρ of the L2 ball of the worst-case sharpness. Default 0.2 (about 1 % of the
            demo MLP's weight norm).
        sharpness_steps: projected gradient-ascent steps of the sharpness. Default 20.
        gammas: couplings γ of the local entropy, from the widest scale of interest up to
            ``γ_max ≫ β λ_max`` (β = number of samples, λ_max ≈ 1–10 on the demo MLPs). Default
            ``(1e4, 3e4, 1e5)``.
        entropy_chains, entropy_burn_in, entropy_steps: SGLD chains, and discarded and recorded
            steps per γ. Defaults 4, 50, 50. The burn-in must cover the relaxation of the chains,
            about ``β/(η γ_min)`` steps per e-fold in the flat directions (7 here): ΔΦ integrates
            ``γ m(γ) − P`` over P ≈ 9000 weights, so an unrelaxed chain biases it by many nats
            (watch ``sq_dist_drift``).
        entropy_step_size: the SGLD step η; its bias is about ``η λ/2`` relative in a direction
            of curvature λ. Default 0.02.
        topk: number of top Hessian eigenvalues (thick-restart Lanczos). Default 5.
        eigen_tol: relative residual tolerance of the eigenpairs. Default 1e-3.
        trace_matvecs: Hessian-vector products of the Hutch++ trace. Default 60.
        density_probes, density_steps: SLQ probes and Lanczos steps per probe of the spectral
            density. Defaults 8 and 60.
        num_samples: measure on a fixed stratified subset of this many training samples
            (seeded by ``seed``; its indices are stored), ``None`` for all. Default ``None``.
        seed: seeds every random draw (noise, chains, probes, start vectors). Default 0.
    """

    sigmas: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
    num_draws: int = 64
    reference_sigma: float = 0.3
    width_threshold: float = 0.05
    width_bounds: tuple[float, float] = (0.01, 3.0)
    width_draws: int = 32
    width_rtol: float = 0.01
    confidence: float = 0.95
    rho: float = 0.2
    sharpness_steps: int = 20
    gammas: tuple[float, ...] = (1e4, 3e4, 1e5)
    entropy_chains: int = 4
    entropy_burn_in: int = 50
    entropy_steps: int = 50
    entropy_step_size: float = 0.02
    topk: int = 5
    eigen_tol: float = 1e-3
    trace_matvecs: int = 60
    density_probes: int = 8
    density_steps: int = 60
    num_samples: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.reference_sigma not in self.sigmas:
            raise ConfigError(f"reference_sigma={self.reference_sigma} must be one of the "
                              f"sigmas {list(self.sigmas)}")
        if not self.gammas or min(self.gammas) <= 0:
            raise ConfigError(f"gammas must be non-empty and > 0, got {list(self.gammas)}")
        counts = {"num_draws": self.num_draws, "width_draws": self.width_draws,
                  "sharpness_steps": self.sharpness_steps, "entropy_chains": self.entropy_chains,
                  "entropy_steps": self.entropy_steps, "topk": self.topk,
                  "trace_matvecs": self.trace_matvecs, "density_probes": self.density_probes,
                  "density_steps": self.density_steps}
        if self.num_samples is not None:
            counts["num_samples"] = self.num_samples
        bad = {k: v for k, v in counts.items() if int(v) != v or v < 1}
        if bad:
            raise ConfigError(f"these settings must be positive integers: {bad}")

    @classmethod
    def quick(cls) -> MeasureConfig:
        """A CI-sized preset: 400 samples, few σ, draws, chains, steps and probes (rough
        estimates, well under a second per digits MLP)."""
        return cls(sigmas=(0.0, 0.05, 0.1, 0.2, 0.3, 0.5), num_draws=16, width_draws=8,
                   width_rtol=0.05, sharpness_steps=5, gammas=(1e4, 1e5), entropy_chains=2,
                   entropy_burn_in=20, entropy_steps=20, topk=2, eigen_tol=1e-2,
                   trace_matvecs=12, density_probes=2, density_steps=20, num_samples=400)

    def to_dict(self) -> dict[str, Any]:
        """All settings as plain JSON-able values."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True)
class Gap:
    """The generalisation gap of a run at its last epoch, from its stored history.

    Attributes:
        train_error, test_error: ``1 − accuracy`` on the training and the test set; the training
            error on the clean labels when the run was trained on noisy labels.
        train_loss, test_loss: the objective's mean loss on both sets (clean training labels
            likewise).
        clean_labels: whether the clean training labels were used (the run had label noise).
    """

    train_error: float
    test_error: float
    train_loss: float
    test_loss: float
    clean_labels: bool

    @property
    def error_gap(self) -> float:
        """``train accuracy − test accuracy`` (= test error − training error)."""
        return self.test_error - self.train_error

    @property
    def loss_gap(self) -> float:
        """``test loss − training loss`` (oriented like :attr:`error_gap`: larger is worse)."""
        return self.test_loss - self.train_loss


@dataclass(frozen=True)
class ScalarMeasure:
    """How one scalar summary of a minimum is named, labelled and read.

    Attributes:
        key: the key in :meth:`MinimumMeasures.scalars`.
        label: a short label for tables and axes.
        description: one line saying what it is, with units.
        flatter: ``"higher"`` or ``"lower"``: which direction means a flatter minimum.
        log: whether its values can span decades (draw on a log scale when all are positive).
    """

    key: str
    label: str
    description: str
    flatter: str
    log: bool = False


#: The scalar flatness measures of a minimum, in table order.
SCALAR_MEASURES: tuple[ScalarMeasure, ...] = (
    ScalarMeasure("local_energy_error", "δerr(σ*)",
                  "local energy of the training error at σ = reference_sigma (fraction)", "lower"),
    ScalarMeasure("local_energy_loss", "δloss(σ*)",
                  "local energy of the training loss at σ = reference_sigma (objective units)",
                  "lower", log=True),
    ScalarMeasure("width", "width",
                  "flat-minimum width: σ where δ training error reaches the threshold", "higher"),
    ScalarMeasure("sharpness", "sharpness",
                  "worst-case loss increase in the L2 ball of radius ρ (objective units)",
                  "lower", log=True),
    ScalarMeasure("local_entropy", "ΔΦ(γ_min)",
                  "local entropy excess over a flat region at the smallest γ (nats)", "higher",
                  log=True),
    ScalarMeasure("lambda_max", "λ_max", "largest Hessian eigenvalue (objective units)",
                  "lower", log=True),
    ScalarMeasure("trace", "tr H", "Hessian trace, Hutch++ (objective units)", "lower",
                  log=True),
)

#: The generalisation gaps a measure is correlated with.
GAPS: tuple[ScalarMeasure, ...] = (
    ScalarMeasure("error_gap", "error gap", "test error − training error (fraction)", "lower"),
    ScalarMeasure("loss_gap", "loss gap", "test loss − training loss (objective units)",
                  "lower"),
)


@dataclass(frozen=True)
class MinimumMeasures:
    """Every measurement of one minimum (see :func:`measure_minimum`).

    Attributes:
        run: the run's name. objective: its training objective's registry name. seed: its seed.
        local_energy: the δE(σ) curve of loss and error.
        width: the flat-minimum width of the training error.
        sharpness: the worst-case L2 sharpness.
        local_entropy: ΔΦ(γ) at the configured γ.
        spectrum: the Hessian's top eigenpairs, trace and spectral density.
        gap: the generalisation gap.
        config: the settings used.
        recomputed: the stages (of :data:`STAGES`) computed by this call rather than read back.
    """

    run: str
    objective: str
    seed: int
    local_energy: LocalEnergyResult
    width: WidthResult
    sharpness: SharpnessResult
    local_entropy: LocalEntropyResult
    spectrum: SpectrumMeasurement
    gap: Gap
    config: MeasureConfig
    recomputed: tuple[str, ...]

    def scalars(self) -> dict[str, float]:
        """One number per measure (keys of :data:`SCALAR_MEASURES` and :data:`GAPS`)."""
        le = self.local_energy
        i = int(np.flatnonzero(np.isclose(le.sigmas, self.config.reference_sigma))[0])
        top, tr = self.spectrum.top, self.spectrum.trace
        return {
            "local_energy_error": float(le.error_delta[i]),
            "local_energy_loss": float(le.delta[i]),
            "width": float(self.width.width),
            "sharpness": float(self.sharpness.delta_loss),
            "local_entropy": float(self.local_entropy.phi_excess[0]),
            "lambda_max": float(top.eigenvalues[0]) if top is not None else math.nan,
            "trace": float(tr.estimate) if tr is not None else math.nan,
            "error_gap": self.gap.error_gap,
            "loss_gap": self.gap.loss_gap,
        }


def generalisation_gap(path: str | os.PathLike[str], run: str) -> Gap:
    """The gap of ``run`` at its last epoch, from its stored history (clean training labels
    when the run's training set had label noise)."""
    attrs = run_attrs(path, run)
    h = read_history(path, run)
    dataset = attrs.get("dataset") if isinstance(attrs.get("dataset"), dict) else {}
    noisy = float(dataset.get("noise_rate", 0.0) or 0.0) > 0 and "train_acc_clean" in h
    suffix = "_clean" if noisy else ""
    last = _last_finite_epoch(h["train_acc" + suffix], run)
    return Gap(train_error=1.0 - float(h["train_acc" + suffix][last]),
               test_error=1.0 - float(h["test_acc"][last]),
               train_loss=float(h["train_loss" + suffix][last]),
               test_loss=float(h["test_loss"][last]), clean_labels=noisy)


def _last_finite_epoch(values: np.ndarray, run: str) -> int:
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size == 0:
        raise ConfigError(f"run {run!r} has no evaluated epoch in its history")
    return int(finite[-1])


@writes_study("study_path")
def measure_minimum(study_path: str | os.PathLike[str], run: str, *,
                    config: MeasureConfig | None = None, overwrite: bool = False,
                    progress: bool = False,
                    on_stage: Callable[[str], None] | None = None,
                    device: str | None = None,
                    data_dir: str | os.PathLike[str] | None = None) -> MinimumMeasures:
    """Measure the minimum reached by ``run`` of a study file, storing every result in it.

    Args:
        study_path: the study file (the run must be finished training).
        run: the run's name.
        config: :class:`MeasureConfig` (default settings when ``None``).
        overwrite: recompute results stored with other settings instead of raising (results
            stored with the same settings are read back either way).
        progress: show the inner progress bars of the long stages (local energy and entropy).
        on_stage: called with each stage's name (:data:`STAGES`) when it is done, e.g. to
            advance an outer progress bar.
        device: where the model and data are put for the measurement (default: the CPU),
            e.g. ``"cuda"``. The noise of the local energy and width is drawn on the CPU from
            per-draw streams, so a GPU measurement uses the draws of a CPU one and agrees with
            it to rounding, as do the Hessian measures (probes drawn on the CPU); the SGLD chains of
            the local entropy draw from the device's generators, so on a GPU they are another
            sample of the same estimator.
        data_dir: where the run's dataset files are now, if they are not where they were at
            training time (otherwise the dataset's environment variable or default applies).

    Returns:
        :class:`MinimumMeasures`; ``recomputed`` lists the stages this call computed (empty
        when everything was stored already).

    Raises:
        StoreError: a result of the same name stored with other settings (without
            ``overwrite``), or a missing run.
        StudyLockedError: another process is writing the study.
    """
    from landscape._measure import batches, measurement_group, prepare, same_settings

    cfg = config or MeasureConfig()
    done: list[str] = []

    def finished(stage: str, recomputed: bool) -> None:
        if recomputed:
            done.append(stage)
        if on_stage is not None:
            on_stage(stage)

    setup = prepare(study_path, run, num_samples=cfg.num_samples, seed=cfg.seed, device=device,
                    data_dir=data_dir)
    model, loss_fn = setup.model, setup.loss_fn
    data = batches(setup.data, model, None)

    # local energy: resumable per σ inside local_energy_to_study
    pending = not _local_energy_complete(study_path, run)
    le, replaced = _replacing(lambda replace: local_energy_to_study(
        study_path, run, LOCAL_ENERGY, model, loss_fn, data, cfg.sigmas, cfg.num_draws,
        noise="multiplicative", seed=cfg.seed, overwrite=replace, progress=progress), overwrite)
    finished("local_energy", pending or replaced)

    # width and sharpness: stored as results with their settings under measurements/flatness
    width_settings, sharp_settings = _flatness_settings(cfg)
    jobs: list[tuple[str, str, dict[str, Any], Callable[[], Any]]] = [
        ("width", "width", width_settings, lambda: flat_minimum_width(
            model, loss_fn, data, cfg.width_threshold, quantity="error",
            num_samples=cfg.width_draws, sigma_bounds=cfg.width_bounds, rtol=cfg.width_rtol,
            confidence=cfg.confidence, noise="multiplicative", seed=cfg.seed)),
        ("sharpness", "sharpness", sharp_settings, lambda: sharpness(
            model, loss_fn, data, cfg.rho, norm="l2", steps=cfg.sharpness_steps)),
    ]
    stored: dict[str, Any] = {}
    for stage, key, settings, compute in jobs:
        settings = {**settings, "param_hash": setup.attrs.get("param_hash", "")}
        with Study(study_path, "a") as study:
            group = measurement_group(study, run, FLATNESS, setup)
            if same_settings(group, key, settings):
                stored[stage] = load_result(group[key])
        if stage not in stored:
            _check_clash(study_path, run, key, overwrite)
            stored[stage] = compute()
            with Study(study_path, "a") as study:
                group = measurement_group(study, run, FLATNESS, setup)
                save_result(group, key, stored[stage],
                            attrs={"settings": json.dumps(settings), "kind": stage,
                                   "device": setup.describe()["device"]})
            finished(stage, True)
        else:
            finished(stage, False)

    # local entropy: stored whole by local_entropy_to_study
    had_entropy = _has_measurement(study_path, run, LOCAL_ENTROPY, complete=True)
    entropy, replaced = _replacing(lambda replace: local_entropy_to_study(
        study_path, run, LOCAL_ENTROPY, model, loss_fn, data, cfg.gammas, overwrite=replace,
        progress=progress, **_entropy_options(cfg)), overwrite)
    finished("local_entropy", replaced or not had_entropy)

    # Hessian: top-k, trace and density, each read back by measure_spectrum when stored with
    # the same settings (and replaced when stored with others)
    spectrum = measure_spectrum(study_path, run, name=HESSIAN, topk=cfg.topk, tol=cfg.eigen_tol,
                                trace_matvecs=cfg.trace_matvecs, num_probes=cfg.density_probes,
                                num_steps=cfg.density_steps, num_samples=cfg.num_samples,
                                seed=cfg.seed, device=device, data_dir=data_dir,
                                other_settings="replace" if overwrite else "raise")
    finished("hessian", bool(spectrum.recomputed))

    return MinimumMeasures(run=run, objective=str(setup.attrs.get("objective", "?")),
                           seed=int(setup.attrs.get("seed", -1)), local_energy=le,
                           width=stored["width"], sharpness=stored["sharpness"],
                           local_entropy=entropy, spectrum=spectrum,
                           gap=generalisation_gap(study_path, run), config=cfg,
                           recomputed=tuple(done))


def _replacing(call: Callable[[bool], Any], overwrite: bool) -> tuple[Any, bool]:
    """``call(False)``; if it finds a result stored with other settings and ``overwrite``,
    ``call(True)`` replaces it. Returns the result and whether it was replaced."""
    from landscape.errors import StoreError

    try:
        return call(False), False
    except StoreError:
        if not overwrite:
            raise
    return call(True), True


def _flatness_settings(cfg: MeasureConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings stored with the width and the sharpness (without the weights' hash)."""
    width = {"threshold": cfg.width_threshold, "quantity": "error",
             "num_samples": cfg.width_draws, "sigma_bounds": list(cfg.width_bounds),
             "rtol": cfg.width_rtol, "confidence": cfg.confidence,
             "noise": "multiplicative", "seed": cfg.seed}
    return width, {"rho": cfg.rho, "norm": "l2", "steps": cfg.sharpness_steps}


def _entropy_options(cfg: MeasureConfig) -> dict[str, Any]:
    """The options :func:`measure_minimum` passes to the local entropy."""
    return {"num_chains": cfg.entropy_chains, "num_steps": cfg.entropy_steps,
            "burn_in": cfg.entropy_burn_in, "step_size": cfg.entropy_step_size,
            "seed": cfg.seed}


def load_minimum(study_path: str | os.PathLike[str], run: str, *,
                 config: MeasureConfig | None = None) -> MinimumMeasures:
    """Read back what :func:`measure_minimum` stored for ``run``, computing and writing nothing.

    It takes no writer lock, so it reads a study that another process is still training or
    measuring into (e.g. from a notebook while an analysis runs); the file is opened only for
    each short read.

    Args:
        study_path, run: the study file and the run.
        config: the settings the run was measured with (default: ``MeasureConfig()``); every
            stored stage is checked against them.

    Returns:
        :class:`MinimumMeasures` with ``recomputed`` empty.

    Raises:
        StoreError: a stage not stored yet (or interrupted), or stored with other settings or
            for other weights; the message names the stages and the settings that differ.
    """
    from landscape._measure import stored_measurement
    from landscape.errors import StoreError
    from landscape.store.study import read_attrs

    cfg = config or MeasureConfig()
    with Study(study_path, "r") as study:
        attrs = read_attrs(study.run(run))
    weights = attrs.get("param_hash", "")
    size = int(attrs.get("num_samples", 0))  # the data a measurement uses (prepare's rule)
    if cfg.num_samples is not None and cfg.num_samples < size:
        size = cfg.num_samples
    missing = [stage for stage, ok in (
        ("local_energy", _local_energy_complete(study_path, run)),
        ("width", _has_measurement(study_path, run, FLATNESS)),
        ("local_entropy", _has_measurement(study_path, run, LOCAL_ENTROPY, complete=True)),
        ("hessian", _has_measurement(study_path, run, HESSIAN))) if not ok]
    if missing:
        raise StoreError(f"run {run!r} of {study_path} is not fully measured: {missing} missing "
                         "or interrupted; measure_minimum computes them")
    differ: list[str] = []

    def check(stage: str, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
        wanted = json.loads(json.dumps(wanted, default=str))
        keys = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if keys:
            differ.append(f"{stage} ({', '.join(keys)})")

    le = read_local_energy(study_path, run, LOCAL_ENERGY)
    with Study(study_path, "r") as study:
        le_attrs = read_attrs(stored_measurement(study, run, LOCAL_ENERGY))
        check("local_energy", {**le_attrs, "sigmas": le.sigmas.tolist()},
              {"sigmas": [float(x) for x in cfg.sigmas], "num_samples": cfg.num_draws,
               "noise": "multiplicative", "seed": cfg.seed, "param_hash": weights,
               "num_data": size})
        flat = stored_measurement(study, run, FLATNESS)
        stored: dict[str, Any] = {}
        for key, settings in zip(("width", "sharpness"), _flatness_settings(cfg)):
            if key not in flat:
                raise StoreError(f"run {run!r} of {study_path} has no {key} stored yet; "
                                 "measure_minimum computes it")
            check(key, json.loads(flat[key].attrs.get("settings", "{}")),
                  {**settings, "param_hash": weights})
            stored[key] = load_result(flat[key])
        group = stored_measurement(study, run, LOCAL_ENTROPY)
        check("local_entropy", json.loads(group.attrs.get("settings", "{}")),
              {"gammas": check_gammas(cfg.gammas)[0].tolist(), "param_hash": weights,
               **_entropy_options(cfg)})
        entropy = load_result(group)
        hess = stored_measurement(study, run, HESSIAN)
        parts: dict[str, Any] = {}
        expect = {"top": {"k": cfg.topk, "which": "largest", "tol": cfg.eigen_tol},
                  "trace": {"num_matvecs": cfg.trace_matvecs, "method": "hutch++"},
                  "density": {"num_probes": cfg.density_probes,
                              "num_steps": cfg.density_steps}}
        num_params = num_samples = 0
        for key, wanted in expect.items():
            if key not in hess:
                raise StoreError(f"run {run!r} of {study_path} has no Hessian {key} stored "
                                 "yet; measure_minimum computes it")
            settings = json.loads(hess[key].attrs.get("settings", "{}"))
            check(f"hessian {key}", settings, {**wanted, "curvature": "hessian",
                                               "seed": cfg.seed, "params": None,
                                               "num_samples": size})
            parts[key] = load_result(hess[key])
            num_params = int(hess[key].attrs.get("num_params", 0))
            num_samples = int(settings.get("num_samples", 0))
        if read_attrs(hess).get("param_hash", weights) != weights:
            differ.append("hessian (param_hash)")
    if differ:
        raise StoreError(f"run {run!r} of {study_path} was measured with other settings or "
                         f"weights than the given MeasureConfig: {'; '.join(differ)}")
    spectrum = SpectrumMeasurement(parts["top"], None, parts["trace"], parts["density"],
                                   num_params, num_samples, ())
    return MinimumMeasures(run=run, objective=str(attrs.get("objective", "?")),
                           seed=int(attrs.get("seed", -1)), local_energy=le,
                           width=stored["width"], sharpness=stored["sharpness"],
                           local_entropy=entropy, spectrum=spectrum,
                           gap=generalisation_gap(study_path, run), config=cfg, recomputed=())


def has_long_stages(path: str | os.PathLike[str], run: str) -> bool:
    """Whether ``run`` has its local energy, complete local entropy and the three Hessian
    results (top, trace, density) stored: the expensive stages of :func:`measure_minimum` (a
    cheap check, without the settings; what is missing or stale is still recomputed by
    :func:`measure_minimum`)."""
    if not (_local_energy_complete(path, run)
            and _has_measurement(path, run, LOCAL_ENTROPY, complete=True)
            and _has_measurement(path, run, HESSIAN)):
        return False
    with Study(path, "r") as study:
        group = study.run(run)["measurements"][HESSIAN]
        return all(key in group for key in ("top", "trace", "density"))


def _has_measurement(path: str | os.PathLike[str], run: str, name: str, *,
                     complete: bool = False) -> bool:
    """Whether ``measurements/<name>`` exists (and, with ``complete``, is not a checkpoint of an
    interrupted computation, marked by its ``partial`` attribute)."""
    with Study(path, "r") as study:
        group = study.run(run).get("measurements")
        if group is None or name not in group:
            return False
        return not (complete and bool(group[name].attrs.get("partial", False)))


def _local_energy_complete(path: str | os.PathLike[str], run: str) -> bool:
    """Whether a stored local-energy curve has every σ written (its ``*.computed`` masks)."""
    with Study(path, "r") as study:
        group = study.run(run).get("measurements")
        if group is None or LOCAL_ENERGY not in group:
            return False
        meas = group[LOCAL_ENERGY]
        return all(f"{k}.computed" in meas and bool(np.all(meas[f"{k}.computed"][()]))
                   for k in ("loss", "error"))


def _check_clash(path: str | os.PathLike[str], run: str, key: str, overwrite: bool) -> None:
    """Refuse to replace ``flatness/<key>`` stored with other settings unless ``overwrite``."""
    from landscape.errors import StoreError

    with Study(path, "r") as study:
        group = study.run(run).get("measurements")
        if overwrite or group is None or FLATNESS not in group or key not in group[FLATNESS]:
            return
    raise StoreError(f"measurement {FLATNESS}/{key} of run {run!r} was made with other settings "
                     "or weights; pass overwrite=True (landscape demo --overwrite) to replace it")
