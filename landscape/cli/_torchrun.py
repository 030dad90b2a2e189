"""The process group of ``landscape measure --distributed`` under ``torchrun`` (private).

``torchrun --nproc_per_node=K -m landscape measure STUDY --distributed`` starts K processes
with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set;
:func:`process_group` joins them into the default group (gloo on the CPU; NCCL when the device
is a GPU, rank ``r`` on ``cuda:LOCAL_RANK``), and turns a collective that fails because a rank
died or stopped answering into a one-line :class:`~landscape.errors.DistributedError`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from collections.abc import Iterator

from landscape.errors import ConfigError, DistributedError

_ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@contextlib.contextmanager
def process_group(device: str | None, timeout_s: float) -> Iterator[tuple[int, str | None]]:
    """Join the ranks for the body of the block; yields ``(rank, device)``.

    Raises:
        ConfigError: not started by torchrun, or a GPU asked for without CUDA.
        DistributedError: a collective failed (a rank died, or waited past ``timeout_s``).
    """
    import torch
    import torch.distributed as dist

    missing = [k for k in _ENV if k not in os.environ]
    if missing:
        raise ConfigError("--distributed runs under torchrun (torchrun --nproc_per_node=K -m "
                          f"landscape measure STUDY --distributed); {', '.join(missing)} not set")
    if timeout_s <= 0:
        raise ConfigError(f"--dist-timeout must be positive, got {timeout_s}")
    backend = "gloo"
    if device is not None and device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda asked for, but CUDA is not available here")
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device, backend = f"cuda:{local}", "nccl"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield dist.get_rank(), device
        dist.barrier()  # leave together: gloo can abort a process torn down mid-exchange
    except DistributedError:
        raise
    except RuntimeError as err:  # gloo/NCCL: a peer closed the connection or timed out
        if not _is_collective_failure(err):
            raise
        raise DistributedError(f"a collective failed on rank {dist.get_rank()} (another rank "
                               f"died or stopped answering): {_first_sentence(err)}; rerun "
                               "to resume from what rank 0 stored") from err
    finally:
        with contextlib.suppress(Exception):
            dist.destroy_process_group()


def _is_collective_failure(err: RuntimeError) -> bool:
    """Whether ``err`` is the backend's report of a lost or silent peer."""
    import torch.distributed as dist

    backend_error = getattr(dist, "DistBackendError", None)
    if backend_error is not None and isinstance(err, backend_error):
        return True
    text = str(err).lower()
    return any(w in text for w in ("gloo", "nccl", "connection", "timed out", "timeout"))


def _first_sentence(err: BaseException) -> str:
    """The backend's message without its source location, up to the first full stop."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(err).strip().splitlines()[0] if str(err).strip()
                  else type(err).__name__)
    return text.split(". ")[0].rstrip(".")
