"""``analyses/block_spectra.py --quick`` end to end (slow: about 2 minutes on 2 CPU cores)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_run_finds_transformer_blocks_more_heterogeneous(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "analyses" / "block_spectra.py"),
                           "--quick", "--quiet", "--figures", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("block_spectra_quick.png", "block_spectra_quick_js.png",
                 "block_spectra_quick.md"):
        assert (tmp_path / name).stat().st_size > 0
    vit, cnn = (float(v) for v in re.findall(r"(?:vit_tiny|resnet20) ([0-9.]+)",
                                             done.stdout.splitlines()[-1]))
    assert vit > cnn
