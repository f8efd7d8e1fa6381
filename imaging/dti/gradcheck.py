"""Gradient table check: does a flip or a permutation of the b-vector axes fit the data better?

The idea is MRtrix3's ``dwigradcheck`` and Jeurissen B, Leemans A, Sijbers J. "Automated correction
of improperly rotated diffusion gradient orientations in diffusion weighted MRI." Med Image Anal
2014;18(7):953-962: in a brain, fibres run on; where the table is right, the principal direction of
a voxel points at neighbours whose principal direction is the same, and a wrong table (an axis
flipped, two axes swapped) turns the fitted directions so that they point across the tracts. Each
candidate table is scored by that fibre coherence and the best one is compared with the given one.

Scoring (the coherence of a candidate table ``C``)
--------------------------------------------------
For each seed voxel ``v`` (brain-mask voxels with FA >= ``fa_min``, at most ``max_seeds`` of them,
a fixed pseudo-random subsample) with principal eigenvector ``e(v)`` and FA ``f(v)``::

    n±(v) = v ± round(C e(v) * 2 * min(zooms) / zooms)   (the voxels two steps along the direction)
    c(v)  = mean over n± of f(n) * |e(v) . e(n)|
    score = sum_v f(v) c(v) / sum_v f(v)

The fitted directions of a candidate table are ``C e`` exactly, with no second fit: the tensor is
linear in the log-signal, so fitting with b-vectors ``C g`` gives ``C D C^T`` for every least-squares
fit (OLS or WLS, whose weights come from the signal). The dot products between voxels are the same
for every table; only the neighbours a direction points at change. Flipping all three axes leaves
every tensor unchanged, so the distinct candidates are 6 permutations x 4 flips (none, x, y, z).

When the check fails
--------------------
The given table fails when the best candidate's score exceeds the given score by more than
``margin`` (relative, default 5 %) *and* by more than ``z_min`` (default 5) standard errors of the
paired per-seed difference. The relative margin is a practical one: on the ring phantom of
:func:`imaging.dti.phantom.make_ring_phantom` (SNR 15-30) a table flipped in one axis loses
14-18 % of the score, two axes swapped 30-37 %, a cyclic permutation about 43 %; on the axis-aligned
tracts of :func:`imaging.dti.phantom.make_phantom`, where every candidate is equivalent to the given
table, the best candidate beats the given one by noise alone, at most 0.6 %. 5 % sits well between
the two. The paired z guards against a small brain or few seeds; spatial correlation between
neighbouring seeds makes the nominal standard error too small, hence the high 5.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["GradientCheck", "candidate_tables", "check_gradient_table", "table_name"]

AXES = "xyz"
STEP_VOXELS = 2.0  # two voxels: round(2 e) resolves directions finer than the 26 nearest neighbours
_FLIPS = (None, 0, 1, 2)  # flipping two axes is flipping the third (the tensor is unchanged by -I)


@dataclass(frozen=True)
class GradientCheck:
    """The outcome of :func:`check_gradient_table`.

    ``given`` and ``best`` are the coherence scores (0..1) of the given table and of the best
    candidate; ``perm`` and ``flip`` describe the best candidate (new axis i = old axis perm[i], then
    ``flip`` negated); ``z`` is the paired standard score of the improvement; ``seeds`` the voxels used.
    """

    given: float
    best: float
    perm: tuple
    flip: int | None
    z: float
    seeds: int
    suspicious: bool

    @property
    def table(self) -> str:
        return table_name(self.perm, self.flip)


def table_name(perm, flip) -> str:
    """MRtrix-like notation of a candidate: ``"x y z"`` (as given), ``"-x y z"``, ``"y x z"``."""
    return " ".join(("-" if i == flip else "") + AXES[p] for i, p in enumerate(perm))


def candidate_tables():
    """The 24 distinct candidates ``(perm, flip, matrix)``; the first is the given table."""
    out = []
    for perm in itertools.permutations(range(3)):
        for flip in _FLIPS:
            m = np.zeros((3, 3))
            m[np.arange(3), perm] = 1.0
            if flip is not None:
                m[flip] *= -1.0
            out.append((perm, flip, m))
    return out


def _coherence(seed_evec, evec_flat, fa_flat, seeds, shape, matrix, zooms, step):
    """Per-seed coherence c(v) of the candidate ``matrix`` (see the module docstring).

    ``seed_evec``: the principal eigenvectors at the seeds (S, 3); ``evec_flat`` (N, 3) and
    ``fa_flat`` (N,): the volumes flattened in C order, read at the neighbours' flat indices (the
    same values as indexing the volumes with the three coordinates, at half the cost)."""
    offset = np.rint((seed_evec @ matrix.T) * (step / zooms)).astype(int)
    total = np.zeros(len(seeds))
    for sign in (1, -1):
        nb = seeds + sign * offset
        inside = np.all((nb >= 0) & (nb < shape), axis=1)
        nb = np.clip(nb, 0, shape - 1)
        idx = np.ravel_multi_index(tuple(nb.T), tuple(shape))
        dot = np.abs(np.einsum("ij,ij->i", seed_evec, np.take(evec_flat, idx, axis=0)))
        total += np.where(inside, np.take(fa_flat, idx) * dot, 0.0)
    return total / 2.0


def check_gradient_table(
    evec1,
    fa,
    mask,
    zooms=(1.0, 1.0, 1.0),
    *,
    fa_min: float = 0.2,
    max_seeds: int = 20000,
    margin: float = 0.05,
    z_min: float = 5.0,
    seed: int = 0,
) -> GradientCheck | None:
    """Score the 24 flips/permutations of the b-vector axes against the given table.

    Parameters
    ----------
    evec1 : float (X, Y, Z, 3)
        Principal eigenvectors fitted with the given table (voxel axes).
    fa : float (X, Y, Z)
    mask : bool (X, Y, Z)
    zooms : (3,)
        Voxel size in mm (a step along a direction is a step in mm, turned into voxels).

    Returns
    -------
    GradientCheck, or None when fewer than 100 voxels have FA >= ``fa_min`` (nothing to judge).
    """
    fa = np.nan_to_num(np.asarray(fa, dtype=np.float64)) * np.asarray(mask, bool)
    evec = np.nan_to_num(np.asarray(evec1, dtype=np.float64))
    zooms = np.asarray(zooms[:3], dtype=float)
    seeds = np.argwhere(fa >= fa_min)
    if len(seeds) < 100:
        return None
    if len(seeds) > max_seeds:
        seeds = seeds[np.sort(np.random.default_rng(seed).choice(len(seeds), max_seeds, replace=False))]
    weight = fa[tuple(seeds.T)]
    step = STEP_VOXELS * float(zooms.min())
    shape = np.array(fa.shape)
    seed_evec, evec_flat, fa_flat = evec[tuple(seeds.T)], evec.reshape(-1, 3), fa.ravel()
    per_seed = [
        (perm, flip, _coherence(seed_evec, evec_flat, fa_flat, seeds, shape, m, zooms, step))
        for perm, flip, m in candidate_tables()
    ]
    scores = [float(np.sum(weight * c) / np.sum(weight)) for _p, _f, c in per_seed]
    given_c = per_seed[0][2]
    k = int(np.argmax(scores))
    diff = weight * (per_seed[k][2] - given_c) / weight.mean()
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if k else 0.0
    z = float(diff.mean() / se) if se > 0 else 0.0
    suspicious = bool(k and scores[k] > scores[0] * (1.0 + margin) and z > z_min)
    return GradientCheck(
        given=scores[0],
        best=scores[k],
        perm=tuple(int(p) for p in per_seed[k][0]),
        flip=per_seed[k][1],
        z=z,
        seeds=len(seeds),
        suspicious=suspicious,
    )
