"""The figures of a set of measured minima, one per measure, from the registry.

A measure with a figure of its own (the local-energy curves, ΔΦ(γ), the spectral densities)
draws it; every other measure draws one figure per flatness scalar with
:func:`~landscape.compare.plots.plot_measure`. The demo, ``landscape correlate`` and the analyses
call :func:`measure_figures` and so draw every measure taken, user measures included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from landscape.compare import registry
from landscape.compare.minimum import MinimumMeasures


def figure_jobs(results: Sequence[MinimumMeasures]
                ) -> list[tuple[str, Callable[[Path], None]]]:
    """``(stem, draw)`` for each figure of the measures taken in ``results`` (registry order of
    the first result's measures; ``draw(out)`` writes the figure)."""
    from landscape.compare import plots

    jobs: list[tuple[str, Callable[[Path], None]]] = []
    if not results:
        return jobs
    for name in results[0].results:
        m = registry.get(name)
        if m.figure is not None:
            jobs.append((m.figure_name or name,
                         lambda out, f=m.figure: f(results, out)))
            continue
        for s in m.scalars:
            if s.flatter is not None:
                jobs.append((s.key, lambda out, k=s.key: plots.plot_measure(results, k,
                                                                            out=out)))
    return jobs


def measure_figures(results: Sequence[MinimumMeasures], folder: str | Path, prefix: str = "",
                    *, progress: bool = False) -> list[Path]:
    """Draw every figure of :func:`figure_jobs` into ``folder`` as ``<prefix><stem>.png``."""
    from landscape._progress import progress as progress_bar

    out: list[Path] = []
    jobs = figure_jobs(results)
    for stem, draw in progress_bar(jobs, desc="figures", unit="fig", quiet=not progress):
        path = Path(folder) / f"{prefix}{stem}.png"
        draw(path)
        out.append(path)
    return out


__all__ = ["figure_jobs", "measure_figures"]
