"""landscape: loss-landscape analysis around the minima that neural networks reach.

Subpackages: :mod:`landscape.data` (offline datasets and seeded transforms),
:mod:`landscape.models`, :mod:`landscape.objectives`, :mod:`landscape.train`,
:mod:`landscape.store` (HDF5 studies), :mod:`landscape.plot`, and the measurements
(:mod:`landscape.hessian`, ...).
"""

__version__ = "0.1.0"

from landscape.errors import LandscapeError

__all__ = ["LandscapeError", "__version__"]
