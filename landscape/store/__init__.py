"""The study store: one HDF5 file per study, with provenance, resumable arrays and models.

See :mod:`landscape.store._schema` for the layout and :mod:`landscape.store.study` for locking.
"""

from landscape.store._schema import INDEX_CONVENTION, SCHEMA_VERSION
from landscape.store.arrays import (
    ResumableArray,
    read_bytes,
    resumable_array,
    write_array,
    write_bytes,
)
from landscape.store.compact import compact
from landscape.store.models import (
    append_trajectory,
    load_model,
    load_state_into,
    read_state,
    write_state,
)
from landscape.store.provenance import environment, model_provenance, param_hash
from landscape.store.reader import (
    list_runs,
    load_run_data,
    read_arrays,
    read_group_attrs,
    read_history,
    run_attrs,
)
from landscape.store.results import StorableResult, load_result, register_result, save_result
from landscape.store.study import Study, decode_attr, read_attrs, write_attrs

__all__ = [
    "INDEX_CONVENTION",
    "SCHEMA_VERSION",
    "ResumableArray",
    "StorableResult",
    "Study",
    "append_trajectory",
    "compact",
    "decode_attr",
    "environment",
    "list_runs",
    "load_model",
    "load_result",
    "load_run_data",
    "load_state_into",
    "model_provenance",
    "param_hash",
    "read_arrays",
    "read_attrs",
    "read_bytes",
    "read_group_attrs",
    "read_history",
    "read_state",
    "register_result",
    "resumable_array",
    "run_attrs",
    "save_result",
    "write_array",
    "write_attrs",
    "write_bytes",
    "write_state",
]
