"""Per-γ checkpoints of the annealed SGLD chains of :func:`~.local_entropy.local_entropy`
(private).

The chains visit the γ values from large to small, each warm-started from the last state at the
previous γ, so a measurement cannot resume at an arbitrary γ from its records alone: it needs the
chains themselves. After every γ, :func:`pack` turns the progress into one flat mapping of arrays,
handed to the caller's :class:`~landscape._checkpoint.Checkpoint`:

- ``records/{dist,loss}`` ``[k, C]``, ``records/{drift,cv}`` ``[k]`` and the ``records/done``
  mask ``[k]`` (the per-γ results),
- ``state/<param>`` and ``shadow/<param>`` ``[C, *shape]`` (the chains and their flat shadow
  chains), the shadow variance ``shadow_v``, and
- ``rng/{noise,batch}`` ``[C, L]`` uint8 (the states of every chain's random streams).

:func:`unpack` restores all of it; a resumed run continues with the next γ and is bit-identical
to an uninterrupted run on the same machine and thread count; finished γ values are never
recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["Records", "pack", "unpack"]


@dataclass
class Records:
    """Per-γ results so far: float64 ``dist``/``loss`` ``[k, C]``, ``drift``/``cv`` ``[k]``,
    and the ``done`` mask ``[k]``."""

    dist: np.ndarray
    loss: np.ndarray
    drift: np.ndarray
    cv: np.ndarray
    done: np.ndarray

    @classmethod
    def empty(cls, k: int, num_chains: int) -> Records:
        return cls(dist=np.full((k, num_chains), np.nan), loss=np.full((k, num_chains), np.nan),
                   drift=np.full(k, np.nan), cv=np.zeros(k), done=np.zeros(k, dtype=bool))


def _gen_states(gens: list[torch.Generator]) -> np.ndarray:
    return np.stack([g.get_state().numpy() for g in gens])


def _set_gen_states(gens: list[torch.Generator], states: np.ndarray) -> None:
    for g, s in zip(gens, states):
        g.set_state(torch.from_numpy(np.ascontiguousarray(s, dtype=np.uint8)))


def pack(records: Records, state: dict[str, torch.Tensor], chains: Any) -> dict[str, np.ndarray]:
    """The progress after a γ as one flat mapping of arrays (see the module docstring)."""
    out = {f"records/{k}": getattr(records, k) for k in ("dist", "loss", "drift", "cv")}
    out["records/done"] = records.done.astype(np.uint8)
    for n in chains.names:
        out[f"state/{n}"] = state[n].detach().cpu().numpy()
        out[f"shadow/{n}"] = chains.u[n].detach().cpu().numpy()
    out["shadow_v"] = np.array([float(chains.v)])
    out["rng/noise"] = _gen_states(chains.noise_gens)
    out["rng/batch"] = _gen_states(chains.batch_gens)
    return out


def unpack(saved: dict[str, np.ndarray], chains: Any, k: int
           ) -> tuple[Records, dict[str, torch.Tensor]] | None:
    """The records and chain state of :func:`pack`'s mapping, with ``chains``' shadow chains
    and random streams restored; ``None`` when no γ was finished."""
    from landscape.errors import ConfigError

    rec = Records(dist=saved["records/dist"], loss=saved["records/loss"],
                  drift=saved["records/drift"], cv=saved["records/cv"],
                  done=saved["records/done"].astype(bool))
    if rec.dist.shape != (k, chains.num_chains) or \
            any(f"state/{n}" not in saved for n in chains.names):
        raise ConfigError("the checkpoint does not match this local-entropy measurement; "
                          "start it again")
    if not rec.done.any():
        return None
    kw = {"device": chains.device, "dtype": chains.dtype}
    state = {n: torch.as_tensor(saved[f"state/{n}"], **kw) for n in chains.names}
    chains.u = {n: torch.as_tensor(saved[f"shadow/{n}"], **kw) for n in chains.names}
    chains.v = float(saved["shadow_v"][0])
    _set_gen_states(chains.noise_gens, saved["rng/noise"])
    _set_gen_states(chains.batch_gens, saved["rng/batch"])
    return rec, state
