"""The study-file schema: format marker, version, layout names and the index convention.

Layout (HDF5 groups/datasets; ``<run>`` is a run name)::

    /                           attrs: format, schema_version, created, versions, git commit, ...
    /runs/<run>/                attrs: provenance of the model (seed, dtype, model, data, ...)
    /runs/<run>/model/parameters/<param name>    final parameters, under their names
    /runs/<run>/model/buffers/<buffer name>      BatchNorm running statistics etc.
    /runs/<run>/history/<metric>                 per-epoch metrics, dimension scale ``epoch``
    /runs/<run>/trajectory/<param name>          [num_checkpoints, *shape], scale ``epoch``
    /runs/<run>/resume/                          last complete training state (for resuming)
    /runs/<run>/measurements/<measure>/<key>/    one result per settings (store.measurements)

Every pre-allocated result array is NaN-filled and has a sibling boolean ``<name>.computed`` mask;
multi-dimensional arrays are indexed ``[ix, iy, ...]`` (``numpy.meshgrid(..., indexing="ij")``),
the k-th axis carries the k-th attached dimension scale.
"""

from __future__ import annotations

FORMAT = "landscape-study"
#: 2: measurements keyed by their settings (:mod:`landscape.store.measurements`); files of
#: schema 1 are read in place and upgraded by ``landscape upgrade``.
SCHEMA_VERSION = 2
INDEX_CONVENTION = (
    "arrays are indexed [ix, iy, ...] (numpy.meshgrid indexing='ij'); axis k is described by the "
    "k-th attached HDF5 dimension scale; NaN marks values not computed yet, see '<name>.computed'"
)
RUNS = "runs"
MODEL = "model"
PARAMETERS = "parameters"
BUFFERS = "buffers"
HISTORY = "history"
TRAJECTORY = "trajectory"
RESUME = "resume"
MEASUREMENTS = "measurements"
COMPUTED_SUFFIX = ".computed"
