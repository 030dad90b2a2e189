"""What a measure is: settings, a pure computation, its scalar summaries and how it is stored.

Every measure of a minimum — built in (local energy, width, sharpness, local entropy, the Hessian's
top eigenvalues, trace and density, the gap, the surfaces, the Fisher–Rao norm, relative flatness)
or registered by a user with :func:`~landscape.compare.registry.register_measure` — is one
:class:`Measure`. It declares its settings with their defaults, computes a result from a
:class:`Context` (model, loss, data; never a file), says what scalars the result summarises to
and which direction of each is "flatter", and how the result turns into arrays and back. Storing,
reading back, resuming and keeping other settings apart is done for all of them by one layer
(:mod:`landscape.compare.minimum` over :mod:`landscape.store.measurements`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from landscape._checkpoint import Checkpoint
from landscape.errors import ConfigError
from landscape.forward import Forward, default_forward

Flatter = Literal["lower", "higher"]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Scalar:
    """One scalar summary of a measure's result, as tables, figures and correlations see it.

    Attributes:
        key: its key in :meth:`~landscape.compare.MinimumMeasures.scalars`.
        label: a short label for tables and legends (``"δerr(σ*)"``).
        description: one line saying what it is, with units.
        flatter: ``"lower"`` or ``"higher"``: which direction means a flatter minimum
            (``None`` for what is not a flatness measure, such as the gap).
        log: whether its values can span decades (drawn on a log scale).
        axis: an axis label with units (defaults to ``label``).
        signed: whether its sign means something (a gap, an excess over a flat region): its
            figures mark zero.
        own_units: its values are in each objective's own loss units, so values of different
            objectives are not comparable: its figures give each objective a panel and a y
            axis of its own.
    """

    key: str
    label: str
    description: str
    flatter: Flatter | None = "lower"
    log: bool = False
    axis: str = ""
    signed: bool = False
    own_units: bool = False

    @property
    def axis_label(self) -> str:
        """The axis label: :attr:`axis`, else :attr:`label`."""
        return self.axis or self.label


@dataclass(frozen=True)
class Context:
    """What a measure computes on: one stored minimum, rebuilt.

    Attributes:
        model: the network at the minimum (eval mode, on the measuring device and dtype);
            ``None``, with ``loss_fn`` and ``data``, for a measure that does not use them.
        loss_fn: the run's training loss, ``loss_fn(outputs, targets)`` → batch mean.
        data: the measured samples as one batch ``(x, y)`` on the model's device.
        attrs: the run's stored provenance attributes.
        num_data: the number of measured samples.
        progress: whether the computation may show progress bars.
        checkpoint: where a resumable measure keeps its progress (``None``: not resumable).
        history: the run's stored training history (what the gap reads).
        provenance: what the samples and model are (data set, subset hash, loss, device).
        forward: ``forward(model, batch) -> (outputs, targets)``, the run's own (by its
            registry name; :mod:`landscape.forward`).
        trajectory: reads the run's stored training trajectory
            (:func:`landscape.store.trajectories.read_trajectory`) when called.
    """

    model: nn.Module | None
    loss_fn: LossFn | None
    data: tuple[torch.Tensor, torch.Tensor] | None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    num_data: int = 0
    progress: bool = False
    checkpoint: Checkpoint | None = None
    history: Mapping[str, np.ndarray] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    forward: Forward = default_forward
    trajectory: Callable[[], Any] | None = None

    def batches(self, batch_size: int = 1024) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The data as a list of batches of at most ``batch_size`` samples."""
        if self.data is None:
            raise ValueError("this context holds no data")
        x, y = self.data
        return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]


@dataclass(frozen=True)
class Measure:
    """One measure of a minimum (see the module docstring).

    Attributes:
        name: registry name, also the group name under ``runs/<run>/measurements/``.
        compute: ``compute(ctx, settings) -> result``; pure: reads the context, writes nothing.
        defaults: every setting with its default value; a call may override any of them and
            no other.
        summarise: ``summarise(result, settings) -> {scalar key: value}`` for :attr:`scalars`.
        scalars: the scalars it summarises to.
        to_arrays: ``result -> (arrays, attrs)`` for storing (default: ``result.to_arrays()``).
        from_arrays: ``(arrays, attrs) -> result`` (default: ``result_type.from_arrays``).
        result_type: the result class (used by the default :attr:`from_arrays`).
        description: one line for listings.
        summary_only: settings that only change the summary, not the computation; they are
            left out of the stored key (changing them reads back, not recomputes).
        stored: ``False`` for a measure cheap enough to recompute every time (the gap).
        resumable: whether :attr:`compute` takes a checkpoint (``ctx.checkpoint``).
        uses_model: ``False`` for a measure of the run's history alone (the gap).
        figure: an optional ``figure(results, out)`` drawing the measure's own figure from a
            list of :class:`~landscape.compare.MinimumMeasures`; without one, each scalar is
            drawn by :func:`~landscape.compare.plots.plot_measure`.
        figure_name: the file stem of that figure (``"spectra"``).
        intervals: ``intervals(result, settings) -> {scalar key: (low, high)}``, the
            confidence intervals of those scalars that have one.
        caption: ``caption(settings) -> str``, the settings in a few words for figure titles.
    """

    name: str
    compute: Callable[[Context, dict[str, Any]], Any]
    defaults: Mapping[str, Any]
    summarise: Callable[[Any, dict[str, Any]], dict[str, float]]
    scalars: tuple[Scalar, ...] = ()
    to_arrays: Callable[[Any], tuple[dict[str, np.ndarray], dict[str, Any]]] | None = None
    from_arrays: Callable[[dict[str, np.ndarray], dict[str, Any]], Any] | None = None
    result_type: type | None = None
    description: str = ""
    summary_only: tuple[str, ...] = ()
    stored: bool = True
    resumable: bool = False
    uses_model: bool = True
    figure: Callable[[Sequence[Any], Any], None] | None = None
    figure_name: str = ""
    intervals: Callable[[Any, dict[str, Any]], dict[str, tuple[float, float]]] | None = None
    caption: Callable[[dict[str, Any]], str] | None = None

    def settings(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults overridden by ``given``; unknown names are a :class:`ConfigError`."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ConfigError(f"measure {self.name!r} has no setting(s) {unknown}; its settings "
                              f"are {sorted(self.defaults)}")
        return {**self.defaults, **given}

    def key_settings(self, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The settings that identify a stored result (without :attr:`summary_only`)."""
        return {k: v for k, v in settings.items() if k not in self.summary_only}

    def pack(self, result: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """``result`` as ``(arrays, attrs)`` for the store."""
        if self.to_arrays is not None:
            return self.to_arrays(result)
        return result.to_arrays()

    def unpack(self, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> Any:
        """The result stored as ``(arrays, attrs)``."""
        if self.from_arrays is not None:
            return self.from_arrays(arrays, attrs)
        if self.result_type is None:
            raise ConfigError(f"measure {self.name!r} declares neither from_arrays nor "
                              "result_type")
        return self.result_type.from_arrays(arrays, attrs)
