"""Every measure of one stored minimum, computed once per settings, stored, resumed, read back.

:func:`measure_minimum` takes a trained run of a study file and the measures to take (names of the
registry, :mod:`landscape.compare.registry`; the default set is local energy, width, sharpness,
local entropy, the Hessian's top eigenvalues, trace and density, and the gap). For each measure it
merges the settings — the measure's defaults, then :class:`MeasureConfig`'s, then the call's
``settings[name]`` — and looks for a stored result with exactly those settings on the same weights
and samples (:mod:`landscape.store.measurements`). A stored one is read back; a missing one is
computed on the run's rebuilt model, training loss and samples and committed; an interrupted one
(a resumable measure) continues from its checkpoint. Other settings of the same measure are other
results and stay untouched; ``overwrite`` recomputes and replaces exactly the results asked for.

Data parallelism: under a ``torch.distributed`` process group of several ranks, every rank
calls :func:`measure_minimum` with the same arguments; each measures its contiguous shard of
the samples (:class:`~landscape.compare._ranks.Ranks`), the sums are all-reduced, and rank 0
alone locks the study and commits each result (no mid-measure checkpoints: a rerun resumes
from the committed measures). A rank that fails stops every rank with its error.

The file is opened once to read what is stored, then once per commit; the model and data are
rebuilt only when something must be computed, and the writer lock is taken only then, so a fully
measured study is read like :func:`load_minimum` would.

Comparability. The loss-based measures (δE of the loss, sharpness, local entropy, Hessian) are in
the units of each run's own training objective, so they compare minima of one objective well and
minima of different objectives only loosely; the training-error measures (δE of the error, the
width) share one scale across objectives.

Example:
    >>> # m = measure_minimum("results/demo.h5", "mlp-ce-seed0", config=MeasureConfig.quick())
    >>> # m.scalars()["width"], m.gap.error_gap, m["hessian_top"].eigenvalues
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from landscape.compare import registry
from landscape.compare._ranks import Ranks as _Ranks
from landscape.compare.config import MeasureConfig
from landscape.compare.gap import Gap
from landscape.compare.protocol import Context, Measure
from landscape.errors import StoreError
from landscape.store import measurements as M
from landscape.store.study import Study

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Spectrum:
    """The Hessian results of a minimum (``None`` where not measured)."""

    top: Any = None
    bottom: Any = None
    trace: Any = None
    density: Any = None


@dataclass(frozen=True)
class MinimumMeasures:
    """Every measure taken of one minimum.

    Attributes:
        run, objective, seed: the run, its training objective's name and its seed.
        results: each measure's result, by measure name (``m["width"]`` is the same).
        settings: each measure's settings.
        config: the :class:`MeasureConfig` preset used.
        recomputed: the measures this call computed (the others were read back).
    """

    run: str
    objective: str
    seed: int
    results: Mapping[str, Any]
    settings: Mapping[str, dict[str, Any]]
    config: MeasureConfig
    recomputed: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Any:
        return self.results[name]

    def scalars(self) -> dict[str, float]:
        """One number per scalar of every measure taken (see
        :func:`landscape.compare.registry.scalars`)."""
        out: dict[str, float] = {}
        for name, result in self.results.items():
            out.update(registry.get(name).summarise(result, self.settings[name]))
        return out

    def intervals(self) -> dict[str, tuple[float, float]]:
        """The confidence interval of each scalar that has one."""
        out: dict[str, tuple[float, float]] = {}
        for name, result in self.results.items():
            m = registry.get(name)
            if m.intervals is not None:
                out.update(m.intervals(result, self.settings[name]))
        return out

    # the built-in measures by attribute (None when not taken)
    @property
    def local_energy(self) -> Any:
        """The local-energy curve."""
        return self.results.get("local_energy")

    @property
    def width(self) -> Any:
        """The flat-minimum width."""
        return self.results.get("width")

    @property
    def sharpness(self) -> Any:
        """The worst-case sharpness."""
        return self.results.get("sharpness")

    @property
    def local_entropy(self) -> Any:
        """The local entropy ΔΦ(γ)."""
        return self.results.get("local_entropy")

    @property
    def gap(self) -> Gap:
        """The generalisation gap."""
        return self.results.get("gap")

    @property
    def spectrum(self) -> Spectrum:
        """The Hessian's top and bottom eigenpairs, trace and density."""
        r = self.results
        return Spectrum(r.get("hessian_top"), r.get("hessian_bottom"), r.get("hessian_trace"),
                        r.get("hessian_density"))


@dataclass(frozen=True)
class _Plan:
    """What one call measures: each measure with its settings and stored key."""

    run: str
    attrs: dict[str, Any]
    history: dict[str, np.ndarray]
    identity: dict[str, Any]
    jobs: list[tuple[Measure, dict[str, Any], str]]
    stored: dict[str, Any]
    variants: list[M.Variant]
    legacy: int = 0  # results found in the layout of schema 1 (read in place)


def _settings(measures: Iterable[str] | None, config: MeasureConfig,
              settings: Mapping[str, Mapping[str, Any]] | None
              ) -> list[tuple[Measure, dict[str, Any]]]:
    chosen = registry.resolve(measures)
    preset = config.settings()
    extra = dict(settings or {})
    unknown = sorted(set(extra) - {m.name for m in chosen})
    if unknown:
        from landscape.errors import ConfigError

        raise ConfigError(f"settings given for measures not taken: {unknown}")
    return [(m, m.settings({**preset.get(m.name, {}), **extra.get(m.name, {})}))
            for m in chosen]


def identity(attrs: Mapping[str, Any], config: MeasureConfig, dtype: str | None = None
             ) -> dict[str, Any]:
    """What a measurement of a run with ``config`` is made on: the weights' hash, the number
    of samples, (for a subset) the seed that drew it, and the dtype when not the run's own."""
    size = int(attrs.get("num_samples", 0))
    subset = config.num_samples is not None and config.num_samples < size
    out = {"param_hash": str(attrs.get("param_hash", "")),
           "num_data": config.num_samples if subset else size,
           "subset_seed": config.seed if subset else None}
    if dtype is not None and dtype != attrs.get("dtype"):
        out["dtype"] = dtype
    return out


def _plan(path: PathLike, run: str, config: MeasureConfig, measures: Iterable[str] | None,
          settings: Mapping[str, Mapping[str, Any]] | None, overwrite: bool | Iterable[str],
          dtype: str | None = None) -> _Plan:
    """Read what is stored, in one open of the file."""
    chosen = _settings(measures, config, settings)
    redo = set(m.name for m, _ in chosen) if overwrite is True else set(overwrite or ())
    with Study(path, "r") as study:
        group = study.run(run)
        attrs = study.run_attrs(run)
        history = {k: np.array(v[()]) for k, v in group["history"].items()} \
            if "history" in group else {}
        ident = identity(attrs, config, dtype)
        variants = M.list_variants(study, run)
        old: dict[tuple[str, str], Any] | None = None
        jobs, stored, legacy = [], {}, 0
        for m, s in chosen:
            key = M.variant_key(m.name, m.key_settings(s), ident)
            if m.stored and m.name not in redo:
                found = M.read_result(study, run, m.name, key)
                if found is None:
                    old = _legacy_index(study, run) if old is None else old
                    c = old.get((m.name, key))
                    found = None if c is None else (c.arrays, c.attrs)
                    legacy += found is not None
                if found is not None:
                    stored[m.name] = m.unpack(*found)
                    continue
            jobs.append((m, s, key))
    return _Plan(run, attrs, history, ident, jobs, stored, variants, legacy)


def _legacy_index(study: Study, run: str) -> dict[tuple[str, str], Any]:
    """The complete schema-1 results of ``run`` by (measure, key) (empty for schema 2)."""
    from landscape.compare.legacy import convert

    return {(c.measure, M.variant_key(c.measure, c.settings, c.identity)): c
            for c in convert(study, run)[0] if c.arrays is not None}


def measure_minimum(study_path: PathLike, run: str, *, measures: Iterable[str] | None = None,
                    settings: Mapping[str, Mapping[str, Any]] | None = None,
                    config: MeasureConfig | None = None,
                    overwrite: bool | Iterable[str] = False, progress: bool = False,
                    on_stage: Callable[[str], None] | None = None,
                    device: str | None = None, data_dir: PathLike | None = None,
                    dtype: str | None = None, batch_size: int | None = None
                    ) -> MinimumMeasures:
    """Take the measures of the minimum reached by ``run``, storing each under its settings.

    Args:
        study_path: the study file (the run must be finished training).
        run: the run's name.
        measures: registry names of the measures to take (default
            :data:`~landscape.compare.registry.DEFAULT_MEASURES`).
        settings: per measure, settings overriding the defaults and ``config``'s
            (``{"hessian_top": {"k": 10}}``).
        config: :class:`MeasureConfig`, the preset of the built-in measures' settings and of
            the measured samples (``num_samples``, ``seed``); default ``MeasureConfig()``.
        overwrite: ``True`` recomputes and replaces the results of every measure taken with
            these settings; a collection of measure names, only those. Results of other
            settings are never touched.
        progress: show the inner progress bars of the long measures.
        on_stage: called with each measure's name when it is done (an outer progress bar).
        device: where the model and data are put (default: the CPU), e.g. ``"cuda"``. The noise
            of the local energy and width and the Hessian probes are drawn on the CPU, so a GPU
            measurement agrees with a CPU one to rounding; the SGLD chains of the local entropy
            draw from the device's generators, so on a GPU they are another sample.
        data_dir: where the run's dataset files are now, if they moved since training.
        dtype: measure in this precision (``"float64"``, ...; default: the run's own). Part
            of what a stored result is keyed by.
        batch_size: stream the samples in batches of this size (default: one batch); the
            same numbers up to rounding, so not part of the key.

    Returns:
        :class:`MinimumMeasures`; ``recomputed`` names the measures this call computed.

    Raises:
        ConfigError: an unknown measure or setting.
        StoreError: a missing run. StudyLockedError: another process is writing the study.
    """
    cfg = config or MeasureConfig()
    ranks = _Ranks.current()
    plan = _plan(study_path, run, cfg, measures, settings, overwrite, dtype)
    results = dict(plan.stored)
    all_settings = {m.name: s for m, s in _settings(measures, cfg, settings)}
    computed: list[str] = []
    pending = [(m, s, k) for m, s, k in plan.jobs if m.uses_model]
    ctx: Context | None = None
    if pending:
        with ranks.writer_lock(study_path):
            upgraded = ranks.writer and _upgrade_legacy(study_path, run)
            if any(ranks.gather(upgraded)):  # schema 1: converted in place, re-plan
                plan = _plan(study_path, run, cfg, measures, settings, overwrite, dtype)
                results = dict(plan.stored)
                pending = [(m, s, k) for m, s, k in plan.jobs if m.uses_model]
            ctx = _context(study_path, run, cfg, plan, progress and ranks.writer, device,
                           data_dir, dtype, batch_size, ranks)
            for m, s, key in pending:
                results[m.name] = _compute_and_commit(study_path, plan, ctx, m, s, key, ranks) \
                    if m.stored else m.compute(ctx, s)
                computed.append(m.name)
                if on_stage is not None:
                    on_stage(m.name)
    if on_stage is not None:
        for name in all_settings:
            if name not in computed:
                on_stage(name)
    return _assemble(plan, cfg, results, all_settings, ctx, tuple(computed))


def _upgrade_legacy(path: PathLike, run: str) -> bool:
    """Convert ``run``'s schema-1 measurements in place before writing new ones beside them
    (one line on stderr); whether anything was converted."""
    import sys

    from landscape.compare.legacy import upgrade_run

    n, _ = upgrade_run(path, run)
    if n:
        print(f"{path}: {n} stored result(s) of run {run!r} upgraded to the settings-keyed "
              "layout (nothing recomputed)", file=sys.stderr)
    return n > 0


def _assemble(plan: _Plan, cfg: MeasureConfig, results: dict[str, Any],
              all_settings: dict[str, dict[str, Any]], ctx: Context | None,
              computed: tuple[str, ...]) -> MinimumMeasures:
    """Add the measures that are not stored (computed from the history or, when a context
    was built anyway, from the model) and order the results as asked."""
    light = ctx or Context(model=None, loss_fn=None, data=None, attrs=plan.attrs,
                           history=plan.history)
    for m, s, _ in plan.jobs:
        if m.name not in results:
            results[m.name] = m.compute(light, s)
    order = {name: results[name] for name in all_settings}
    return MinimumMeasures(run=plan.run, objective=str(plan.attrs.get("objective", "?")),
                           seed=int(plan.attrs.get("seed", -1)), results=order,
                           settings=all_settings, config=cfg, recomputed=computed)


def _context(path: PathLike, run: str, cfg: MeasureConfig, plan: _Plan, progress: bool,
             device: str | None, data_dir: PathLike | None, dtype: str | None,
             batch_size: int | None, ranks: _Ranks) -> Context:
    import torch

    from landscape._measure import batches, prepare
    from landscape.store.trajectories import read_trajectory

    setup = prepare(path, run, num_samples=cfg.num_samples, seed=cfg.seed, device=device,
                    data_dir=data_dir, dtype=None if dtype is None else getattr(torch, dtype))
    data = batches(ranks.shard(setup.data), setup.model, batch_size)
    return Context(model=setup.model, loss_fn=setup.loss_fn, data=data, attrs=plan.attrs,
                   num_data=len(setup.data), progress=progress, history=plan.history,
                   provenance=setup.describe(), forward=setup.forward,
                   trajectory=lambda: read_trajectory(path, run))


def _compute_and_commit(path: PathLike, plan: _Plan, ctx: Context, m: Measure,
                        s: dict[str, Any], key: str, ranks: _Ranks) -> Any:
    """Compute one measure and commit it (rank 0 of a group; checkpoints in one process)."""
    key_settings = m.key_settings(s)
    prov = {"device": ctx.provenance.get("device", ""),
            "subset_indices_sha256": ctx.provenance.get("subset_indices_sha256", ""),
            "loss": ctx.provenance.get("loss", ""), "ranks": ranks.world}
    checkpoint = None
    if m.resumable and ranks.world == 1:
        checkpoint = M.GroupCheckpoint(path, plan.run, m.name, key, settings=key_settings,
                                       identity=plan.identity, provenance=prov)
    result = m.compute(dataclasses.replace(ctx, checkpoint=checkpoint), s)
    failure: BaseException | None = None
    if ranks.writer:
        arrays, attrs = m.pack(result)
        try:
            M.commit_result(path, plan.run, m.name, key, settings=key_settings,
                            identity=plan.identity, arrays=arrays, attrs=attrs,
                            provenance=prov, replace=True)
        except Exception as err:
            failure = err  # the other ranks must learn of it
    ranks.agree(failure)  # one process: re-raises its own failure
    return result


def load_minimum(study_path: PathLike, run: str, *, measures: Iterable[str] | None = None,
                 settings: Mapping[str, Mapping[str, Any]] | None = None,
                 config: MeasureConfig | None = None, dtype: str | None = None
                 ) -> MinimumMeasures:
    """Read back what :func:`measure_minimum` stored for ``run`` with these settings,
    computing and writing nothing, without the writer lock (a study another process is still
    writing can be read).

    Raises:
        StoreError: a measure not stored with these settings (the message names it and, when
            the run has it with other settings, those).
    """
    cfg = config or MeasureConfig()
    plan = _plan(study_path, run, cfg, measures, settings, False, dtype)
    missing = [m for m, _, _ in plan.jobs if m.stored]
    if missing:
        lines = []
        for m in missing:
            others = [v.describe() for v in plan.variants if v.measure == m.name]
            where = f" (stored: {'; '.join(others)})" if others else ""
            lines.append(f"{m.name}{where}")
        raise StoreError(f"run {run!r} of {study_path} has no result with the asked settings "
                         f"for: {', '.join(lines)}; measure_minimum computes them")
    all_settings = {m.name: s for m, s in _settings(measures, cfg, settings)}
    return _assemble(plan, cfg, dict(plan.stored), all_settings, None, ())
