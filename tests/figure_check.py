"""An automatic check of a finished figure, run on every figure the tests save.

:func:`figure_problems` draws the figure and lists what a reviewer would send back:

* two visible text elements (titles, axis labels, tick labels, legends' texts, annotations)
  whose window extents overlap by more than ``tolerance`` pixels in both directions;
* a text element that reaches outside the figure's canvas (``fig.bbox`` grown by
  ``tolerance``: what a plain ``savefig`` would cut off);
* an axis that shows data (lines, collections, images or patches) without an x or a y label
  (a label on a shared axis of the same row/column or a colour bar's axis counts; 3D axes and
  invisible axes are skipped);
* a log or symmetric-log axis whose label does not say "log".

The tests' autouse fixture (``tests/conftest.py``) wraps :meth:`Figure.savefig`, so the check
costs one extra draw per saved figure.
"""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

TOLERANCE = 1.0


def _tick_labels(fig: Figure) -> tuple[list[Text], set[int]]:
    """The tick labels drawn (inside the view limits) and the ids of all tick labels."""
    drawn, every = [], set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                every.update({id(tick.label1), id(tick.label2)})
            if ax.get_visible() and axis.get_visible() and ax.name != "3d":
                for tick in axis._update_ticks():
                    drawn += [t for t in (tick.label1, tick.label2) if t.get_visible()]
    return drawn, every


def _texts(fig: Figure) -> list[Text]:
    """Visible, non-empty text artists of ``fig`` (tick labels included)."""
    drawn, every = _tick_labels(fig)
    for ax in fig.axes:
        if ax.name == "3d":  # 3D projections place their labels themselves
            every.update(id(t) for t in ax.findobj(Text))
    out = [t for t in drawn if t.get_text().strip()]
    for t in fig.findobj(Text):
        if id(t) in every or not t.get_visible() or not t.get_text().strip():
            continue
        ax = t.axes
        if ax is not None and not ax.get_visible():
            continue
        if ax is not None and ax.name == "3d":
            continue  # 3D projections place their labels themselves
        out.append(t)
    return out


def _overlap(a, b, tol: float) -> bool:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > tol and h > tol


def _shows_data(ax: Axes) -> bool:
    return bool(ax.lines or ax.collections or ax.images or
                any(p.get_visible() for p in ax.patches))


def _label(ax: Axes, which: str) -> str:
    """The label of ``ax``'s ``which`` axis, or of a sibling sharing it in the same grid."""
    text = (ax.get_xlabel() if which == "x" else ax.get_ylabel()).strip()
    if text:
        return text
    shared = ax.get_shared_x_axes() if which == "x" else ax.get_shared_y_axes()
    for other in shared.get_siblings(ax):
        t = (other.get_xlabel() if which == "x" else other.get_ylabel()).strip()
        if t:
            return t
    return ""


def _axis_problems(fig: Figure) -> list[str]:
    problems = []
    twins = {a for ax in fig.axes for a in ax._twinned_axes.get_siblings(ax) if a is not ax}
    for ax in fig.axes:
        if not ax.get_visible() or ax.name == "3d" or not _shows_data(ax):
            continue
        colorbar = hasattr(ax, "_colorbar")
        name = ax.get_title() or (fig._suptitle.get_text() if fig._suptitle else "")
        for which in ("x", "y"):
            axis = ax.xaxis if which == "x" else ax.yaxis
            if colorbar or (ax in twins and which == "x"):
                continue
            if not axis.get_visible():
                continue
            label = _label(ax, which)
            if not label:
                problems.append(f"axes {name!r}: no {which} label")
            scale = ax.get_xscale() if which == "x" else ax.get_yscale()
            if scale in ("log", "symlog") and "log" not in label.lower():
                problems.append(f"axes {name!r}: {scale} {which} axis whose label "
                                f"{label!r} does not say so")
    return problems


def figure_problems(fig: Figure, tolerance: float = TOLERANCE) -> list[str]:
    """Everything wrong with ``fig`` by the rules above; ``[]`` when it passes."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = _axis_problems(fig)
    texts = _texts(fig)
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    canvas = fig.bbox
    for t, b in boxes:
        if (b.x0 < canvas.x0 - tolerance or b.y0 < canvas.y0 - tolerance or
                b.x1 > canvas.x1 + tolerance or b.y1 > canvas.y1 + tolerance):
            problems.append(f"text {t.get_text()!r} is clipped by the canvas")
    for i, (t, b) in enumerate(boxes):
        for u, c in boxes[i + 1:]:
            if _overlap(b, c, tolerance):
                problems.append(f"texts {t.get_text()!r} and {u.get_text()!r} overlap")
    return problems


def check_figure(fig: Figure) -> None:
    """Raise ``AssertionError`` listing the problems of ``fig``."""
    problems = figure_problems(fig)
    assert not problems, "figure check failed:\n  " + "\n  ".join(problems)
