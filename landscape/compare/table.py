"""Plain-text tables of the measures per run and of their rank correlations with the gap
(Kendall τ over all runs, and the granulated Ψ).

Both are GitHub-flavoured markdown with padded columns, so they read the same in a terminal and
paste into a README or an issue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from landscape.compare import registry
from landscape.compare.correlation import RankCorrelation
from landscape.compare.granulated import GranulatedKendall
from landscape.compare.minimum import MinimumMeasures


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]],
             align: Sequence[str] | None = None) -> str:
    """A markdown table with padded columns; ``align`` holds ``"l"`` or ``"r"`` per column
    (default: the first column left, the others right)."""
    align = list(align) if align is not None else ["l"] + ["r"] * (len(header) - 1)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [str(c).ljust(w) if a == "l" else str(c).rjust(w)
                  for c, w, a in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else (":" + "-" * (w + 1))
                          for w, a in zip(widths, align)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def _num(value: float, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    if value != 0 and (abs(value) >= 10**4 or abs(value) < 10**-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}" if abs(value) >= 1 else f"{value:.{digits}f}"


def measures_table(results: Sequence[MinimumMeasures]) -> str:
    """One row per run: objective, seed, training and test error, the gaps, and every scalar
    of the measures taken (registry order), each with its interval where it has one."""
    present = set.intersection(*(set(r.scalars()) for r in results)) if results else set()
    gaps = [g for g in registry.scalars(flatness=False) if g.key in present]
    scalars = [m for m in registry.scalars(flatness=True) if m.key in present]
    header = ["run", "objective", "seed", "train err", "test err",
              *(g.label for g in gaps), *(m.label for m in scalars)]
    rows = []
    for r in results:
        s, ci = r.scalars(), r.intervals()
        cells = [r.run, r.objective, str(r.seed), f"{r.gap.train_error:.4f}",
                 f"{r.gap.test_error:.4f}", *(_num(s[g.key]) for g in gaps)]
        for m in scalars:
            text = _num(s[m.key])
            if m.key in ci:
                text += f" [{_num(ci[m.key][0])}, {_num(ci[m.key][1])}]"
            cells.append(text)
        rows.append(cells)
    return markdown(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))


def _labels() -> dict[str, str]:
    return {s.key: s.label for s in registry.scalars()}


def correlation_table(correlations: Sequence[RankCorrelation]) -> str:
    """One row per (measure, gap): Kendall τ, its bootstrap interval, scipy's p-value and the
    number of runs."""
    labels = _labels()
    level = f"{100 * correlations[0].confidence:.0f}% CI" if correlations else "CI"
    header = ["measure", "gap", "Kendall τ", level, "p", "runs"]
    rows = [[labels.get(c.measure, c.measure), labels.get(c.gap, c.gap), _num(c.tau, 2),
             f"[{_num(c.ci_low, 2)}, {_num(c.ci_high, 2)}]", _num(c.p_value, 2), str(c.n)]
            for c in correlations]
    return markdown(header, rows, ["l", "l", "r", "r", "r", "r"])


def granulated_table(results: Sequence[GranulatedKendall],
                     axis_labels: Mapping[str, str] | None = None) -> str:
    """One row per (measure, gap): Ψ with its interval, then ψ of every axis with its interval
    and the number of groups it averages (:mod:`landscape.compare.granulated`)."""
    labels = _labels()
    names = dict(axis_labels or {})
    axes = list(dict.fromkeys(a.axis for r in results for a in r.axes))
    level = f"{100 * results[0].confidence:.0f}% CI" if results else "CI"
    header = ["measure", "gap", f"Ψ [{level}]"]
    header += [f"ψ {names.get(a, a)} [{level}] (groups)" for a in axes]

    def fixed(value: float) -> str:  # correlations lie in [-1, 1]: two decimals throughout
        return f"{value:.2f}" if math.isfinite(value) else "n/a"

    def cell(value: float, low: float, high: float, groups: int | None = None) -> str:
        text = f"{fixed(value)} [{fixed(low)}, {fixed(high)}]" if math.isfinite(value) else "n/a"
        return text if groups is None else f"{text} ({groups})"

    rows = []
    for r in results:
        by_axis = {a.axis: a for a in r.axes}
        rows.append([labels.get(r.measure, r.measure), labels.get(r.gap, r.gap),
                     cell(r.psi, r.ci_low, r.ci_high)]
                    + [cell(by_axis[a].psi, by_axis[a].ci_low, by_axis[a].ci_high,
                            by_axis[a].num_groups) if a in by_axis else "n/a" for a in axes])
    return markdown(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))
