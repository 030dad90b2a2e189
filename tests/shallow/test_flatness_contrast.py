"""The qualitative contrast of PNAS 2020 on one small instance (teacher = typical solution)."""

from __future__ import annotations

import numpy as np

from landscape.shallow import focusing_bp, local_energy, local_entropy, teacher_patterns


def test_fbp_solution_is_flatter_than_the_isolated_teacher():
    # teacher-student, N = 201, alpha = 0.6: the teacher is a typical (isolated) solution, fBP
    # finds a wide flat one (measured on 4 seeds: same picture on all of them)
    xi, labels, teacher = teacher_patterns(201, 121, seed=0)
    sol = focusing_bp(xi, labels, seed=0)
    assert sol.solved
    lam = np.array([2.5, 2.0])
    s_teacher = local_entropy(teacher, xi, labels, couplings=lam)
    s_fbp = local_entropy(sol.weights, xi, labels, couplings=lam)
    # BP collapses onto the teacher (no solutions around it) but not onto the fBP solution
    assert np.all(s_teacher.distances < 1e-4) and np.all(s_teacher.entropy < 1e-3)
    assert np.all(s_fbp.distances > 1e-3)
    assert np.all(s_fbp.entropy > 0.5 * s_fbp.bound)
    assert np.all(s_fbp.entropy <= s_fbp.bound + 1e-6)
    p = [0.02, 0.05]
    le_teacher = local_energy(teacher, xi, labels, p, num_samples=100, seed=0)
    le_fbp = local_energy(sol.weights, xi, labels, p, num_samples=100, seed=0)
    assert np.all(le_fbp.mean + 3 * le_fbp.stderr < le_teacher.mean - 3 * le_teacher.stderr)
