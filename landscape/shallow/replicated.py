r"""Replicated learners: replicated SGD for binary committee machines, and replicated / entropic
gradient descent on the γ-cross-entropy of continuous weights.

The first lives in :mod:`landscape.shallow.rsgd`, the other two in
:mod:`landscape.shallow.continuous_replicas`; all three are importable from here. All three draw
every random number from :func:`landscape._seeding.numpy_rng` (reproducible from
``seed``), return a :class:`~landscape.shallow.results.LearnerResult` whose ``errors``/``solved``
are **recounted** from the returned weights, and store their settings as JSON.

* :func:`replicated_sgd`: the replicated SGD of Baldassi et al. (PNAS 2016) for binary committee
  machines, following ``BinaryCommitteeMachineRSGD.jl`` (``research/baldassi.md`` §4.2). ``y``
  replicas with continuous hidden variables :math:`H^a` and binary weights
  :math:`J^a = \operatorname{sign}(H^a)`; each replica in turn takes a least-action minibatch
  step, then is *kicked* towards the centre, whose field :math:`H_c = \frac1y\sum_a J^a` (the
  centre traced out) or an explicit central replica (``center=True``) couples the replicas.
* :func:`replicated_gd`: ``y`` replicas of continuous weights each doing minibatch gradient
  descent on the γ-cross-entropy plus :math:`\tfrac{c}{2}|w^a - \bar w|^2`, the centre
  :math:`\bar w` being the replica mean and the coupling scoped upward,
  :math:`c(t) = c_0(1+c_1)^t` (the rSGD of Pittorino et al., ICLR 2021, §5 of the notes).
* :func:`entropic_gd`: Entropy-SGD (Chaudhari et al. 2017, §4.5 of the notes) on the same loss: an
  inner Langevin loop on :math:`w'` coupled to the outer variable :math:`x`, whose running
  average :math:`\mu` drives the outer step :math:`x \leftarrow x - \eta\, c\,(x - \mu)`.

The last two keep the weights of each perceptron / hidden unit on the sphere
:math:`|w_k|^2 = N` (``binary=False``, the default) or train hidden states in ``[-1, 1]`` through
their signs (``binary=True``, the straight-through scheme of
:func:`~landscape.shallow.learners.gamma_ce_sgd`) and return the signs of the centre. For odd
``K >= 3`` the loss acts on the same smooth surrogate of the majority vote as ``gamma_ce_sgd``,
:math:`x = \sigma K^{-1/2}\sum_k \tanh(w_k\cdot\xi/\sqrt N)`.

Example:
    >>> from landscape.shallow import random_patterns
    >>> from landscape.shallow.replicated import replicated_gd, replicated_sgd
    >>> xi, labels = random_patterns(101, 60, seed=0)
    >>> res = replicated_sgd(xi, labels, K=3, y=5, batch=20, seed=0)
    >>> res.solved, res.weights.shape
    (True, (3, 101))
    >>> replicated_gd(xi[:30], labels[:30], binary=True, seed=0).solved
    True
"""

from __future__ import annotations

from landscape.shallow.continuous_replicas import entropic_gd, replicated_gd
from landscape.shallow.rsgd import Formula, replicated_sgd

__all__ = ["Formula", "entropic_gd", "replicated_gd", "replicated_sgd"]
