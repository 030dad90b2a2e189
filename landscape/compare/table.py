"""Plain-text tables of the measures per run and of their rank correlations with the gap
(Kendall τ over all runs, and the granulated Ψ).

Both are GitHub-flavoured markdown with padded columns, so they read the same in a terminal and
paste into a README or an issue.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from landscape.compare import registry
from landscape.compare.correlation import RankCorrelation, min_runs
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


#: Footnotes of the correlation tables, printed under a table that uses their mark.
DEGENERATE_NOTE = ("(degenerate): every bootstrap resample gave the same value, so the interval "
                   "is a point; it shows no uncertainty, not certainty.")
DISAGREE_NOTE = ("‡: the permutation p-value and the bootstrap interval disagree at the "
                 "interval's level (borderline evidence; see landscape.compare.correlation).")


def _fixed(value: float) -> str:
    """A correlation (in [-1, 1]) with two decimals."""
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def _p_value(value: float) -> str:
    """A p-value with two significant digits (``3.1e-05`` below 0.001), never ``0.00``."""
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.1e}" if value < 1e-3 else f"{value:.2g}"


def _interval_cell(low: float, high: float, degenerate: bool, withheld: str | None,
                   fmt: Callable[[float], str]) -> str:
    """``[low, high]``, ``[v, v] (degenerate)``, or why there is no interval."""
    if withheld is not None:
        return f"no CI ({withheld})"
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    text = f"[{fmt(low)}, {fmt(high)}]"
    return f"{text} (degenerate)" if degenerate else text


def _with_notes(table: str, cells: Sequence[str]) -> str:
    notes = [note for mark, note in (("(degenerate)", DEGENERATE_NOTE), ("‡", DISAGREE_NOTE))
             if any(mark in c for c in cells)]
    return "\n".join([table, *(f"\n{n}" if i == 0 else n for i, n in enumerate(notes))])


def correlation_table(correlations: Sequence[RankCorrelation]) -> str:
    """One row per (measure, gap): Kendall τ, its BCa bootstrap interval, the permutation
    p-value (``exact`` when all permutations were enumerated) and the number of runs.

    A degenerate interval reads ``[1.00, 1.00] (degenerate)``; too few runs read
    ``no CI (n < 5 runs)`` with no p-value; a p-value that disagrees with the interval is
    marked ``‡``. Footnotes explaining the marks that occur follow the table.
    """
    labels = _labels()
    level = f"{100 * correlations[0].confidence:.0f}% CI" if correlations else "CI"
    header = ["measure", "gap", "Kendall τ", level, "p", "runs"]
    rows = []
    for c in correlations:
        withheld = f"n < {min_runs(c.confidence)} runs" if c.too_few else None
        p = _p_value(c.p_value)
        if math.isfinite(c.p_value):
            p = f"{p} (exact)" if c.exact else p
            p = p if c.agrees else f"{p} ‡"
        rows.append([labels.get(c.measure, c.measure), labels.get(c.gap, c.gap),
                     _fixed(c.tau),
                     _interval_cell(c.ci_low, c.ci_high, c.degenerate, withheld, _fixed), p,
                     str(c.n)])
    table = markdown(header, rows, ["l", "l", "r", "r", "r", "r"])
    return _with_notes(table, [cell for r in rows for cell in r[3:5]])


def granulated_table(results: Sequence[GranulatedKendall],
                     axis_labels: Mapping[str, str] | None = None) -> str:
    """One row per (measure, gap): Ψ with its interval, then ψ of every axis with its interval
    and the number of groups it averages (:mod:`landscape.compare.granulated`).

    An axis with too few groups reads ``-1.00 no CI (1 group < 10)``; Ψ reads ``no CI`` when an
    axis it averages has too few; a degenerate interval reads ``[-1.00, -1.00] (degenerate)``.
    """
    labels = _labels()
    names = dict(axis_labels or {})
    axes = list(dict.fromkeys(a.axis for r in results for a in r.axes))
    level = f"{100 * results[0].confidence:.0f}% CI" if results else "CI"
    header = ["measure", "gap", f"Ψ [{level}]"]
    header += [f"ψ {names.get(a, a)} [{level}] (groups)" for a in axes]

    def cell(value: float, low: float, high: float, degenerate: bool, withheld: str | None,
             groups: int | None = None) -> str:
        if not math.isfinite(value):
            return "n/a"
        text = f"{_fixed(value)} {_interval_cell(low, high, degenerate, withheld, _fixed)}"
        return text if groups is None else f"{text} ({groups})"

    rows = []
    for r in results:
        by_axis = {a.axis: a for a in r.axes}
        psi_withheld = "an axis has too few groups" if r.too_few else None
        row = [labels.get(r.measure, r.measure), labels.get(r.gap, r.gap),
               cell(r.psi, r.ci_low, r.ci_high, r.degenerate, psi_withheld)]
        for name in axes:
            a = by_axis.get(name)
            if a is None:
                row.append("n/a")
                continue
            withheld = (f"{a.num_groups} group{'s' if a.num_groups != 1 else ''} "
                        f"< {r.min_groups}") if a.too_few else None
            row.append(cell(a.psi, a.ci_low, a.ci_high, a.degenerate, withheld,
                            None if a.too_few else a.num_groups))
        rows.append(row)
    table = markdown(header, rows, ["l", "l"] + ["r"] * (len(header) - 2))
    return _with_notes(table, [cell for r in rows for cell in r[2:]])
