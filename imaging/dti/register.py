"""Carrying regions between scans: resample label images through affines, register one scan's FA to another's.

Everything is in world (scanner) millimetres through the voxel-to-world affines, so label images
drawn at another resolution or orientation, and scans of the same child taken months apart, can be
put on one scan's grid. Registration uses dipy (Avants et al. 2008 for SyN; Mattes et al. 2003 for
mutual information): centres of mass, then translation, rigid and affine transforms maximising
mutual information, then a symmetric diffeomorphic (SyN) refinement kept only when it raises the
similarity figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "RegistrationSettings",
    "Registration",
    "resample_labels",
    "register_fa",
    "similarity",
    "carry_labels",
    "syn_radius",
]


@dataclass(frozen=True)
class RegistrationSettings:
    """How hard registration works; the defaults take a few seconds on a clinical DTI grid.

    ``level_iters``, ``sigmas`` and ``factors`` are per resolution level, coarse to fine (dipy's
    AffineRegistration); ``syn_level_iters`` for SyN (empty: no SyN). ``nbins`` of the mutual
    information histogram; ``sampling_proportion`` of voxels drawn for it (None: all).
    """

    level_iters: tuple = (100, 30, 10)
    sigmas: tuple = (2.0, 1.0, 0.0)
    factors: tuple = (4, 2, 1)
    nbins: int = 32
    sampling_proportion: float | None = None
    syn_level_iters: tuple = (10, 5)
    stages: tuple = ("translation", "rigid", "affine")


@dataclass
class Registration:
    """A transform from the moving scan (regions drawn there) to the static scan (regions wanted there).

    ``affine`` is the 4x4 world-to-world matrix dipy's AffineMap holds (static world -> moving
    world); ``syn`` the diffeomorphic map when SyN improved the match (else None).
    ``similarity``: normalised cross-correlation of the static FA with the warped moving FA within
    the static brain mask (1 is a perfect match); ``similarity_affine`` the same before SyN.
    """

    affine: np.ndarray
    static_shape: tuple
    static_affine: np.ndarray
    moving_shape: tuple
    moving_affine: np.ndarray
    similarity: float
    similarity_affine: float
    syn: object = None
    seconds: float = 0.0
    stages: list = field(default_factory=list)

    def transform(self, image, *, nearest=False):
        """`image` (on the moving grid) on the static grid; nearest neighbour for labels."""
        interpolation = "nearest" if nearest else "linear"
        moved = (
            self.syn.transform(np.asarray(image, np.float64), interpolation=interpolation)
            if self.syn is not None
            else self._affine_map().transform(np.asarray(image, np.float64), interpolation=interpolation)
        )
        return np.rint(moved).astype(np.int32) if nearest else moved

    def _affine_map(self):
        from dipy.align.imaffine import AffineMap

        return AffineMap(
            self.affine,
            domain_grid_shape=self.static_shape,
            domain_grid2world=self.static_affine,
            codomain_grid_shape=self.moving_shape,
            codomain_grid2world=self.moving_affine,
        )

    def provenance(self):
        """Plain data recording what was found (for the measurements' provenance)."""
        return {
            "method": "dipy affine (" + " > ".join(self.stages) + ")" + (" + SyN" if self.syn is not None else ""),
            "affine": np.round(self.affine, 6).tolist(),
            "syn": self.syn is not None,
            "similarity": round(float(self.similarity), 4),
            "similarity_affine": round(float(self.similarity_affine), 4),
            "seconds": round(float(self.seconds), 2),
        }


def resample_labels(labels, labels_affine, shape, affine) -> np.ndarray:
    """An integer label image on another grid (any resolution, orientation, field of view) resampled
    onto the grid (`shape`, `affine`) by nearest neighbour through the two voxel-to-world affines.

    Each target voxel centre is mapped to the label image's voxel coordinates,
    ``inv(labels_affine) @ affine @ ijk``, and takes the label of the nearest voxel there (0 outside).

    Parameters
    ----------
    labels : int array (X', Y', Z')
    labels_affine, affine : (4, 4) voxel-to-world, mm
    shape : (X, Y, Z) target grid

    Returns
    -------
    int32 array `shape`
    """
    labels = np.asarray(labels)
    to_labels = np.linalg.inv(np.asarray(labels_affine, float)) @ np.asarray(affine, float)
    ijk = np.indices(tuple(shape), dtype=np.float64).reshape(3, -1)
    src = to_labels[:3, :3] @ ijk + to_labels[:3, 3:4]
    # A voxel centre exactly halfway between two finer voxels (a 2x finer grid) goes to the upper
    # one consistently, not by floating-point chance.
    idx = np.floor(src + 0.5 + 1e-6).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.array(labels.shape)[:, None]), axis=0)
    out = np.zeros(idx.shape[1], np.int32)
    out[inside] = labels[idx[0, inside], idx[1, inside], idx[2, inside]]
    return out.reshape(tuple(shape))


def similarity(static, moved, mask) -> float:
    """Normalised cross-correlation of two images within `mask`: sum(a b) / sqrt(sum a^2 sum b^2)
    after removing each mean; 1 for identical images up to scale and offset, about 0 for unrelated ones."""
    sel = np.asarray(mask, bool)
    a = np.asarray(static, np.float64)[sel]
    b = np.asarray(moved, np.float64)[sel]
    if a.size < 2:
        return 0.0
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denom) if denom > 0 else 0.0


def register_fa(static, static_affine, moving, moving_affine, *, static_mask=None, settings=None) -> Registration:
    """Register the moving scan's FA (or b0) to the static scan's.

    Centres of mass, then translation, rigid and affine (settings.stages) maximising mutual
    information; then SyN with cross-correlation, kept only if it raises the similarity figure
    (:func:`similarity` within `static_mask`, default FA > 0 of the static image).

    Parameters
    ----------
    static, moving : float arrays (X, Y, Z), FA of the two scans (dimensionless)
    static_affine, moving_affine : (4, 4) voxel-to-world, mm
    static_mask : bool array like `static`, optional
    settings : RegistrationSettings, optional
    """
    from dipy.align.imaffine import AffineRegistration, MutualInformationMetric, transform_centers_of_mass
    from dipy.align.transforms import AffineTransform3D, RigidTransform3D, TranslationTransform3D

    settings = settings or RegistrationSettings()
    started = time.perf_counter()
    static = np.asarray(static, np.float64)
    moving = np.asarray(moving, np.float64)
    static_affine = np.asarray(static_affine, float)
    moving_affine = np.asarray(moving_affine, float)
    mask = np.asarray(static_mask, bool) if static_mask is not None else static > 0

    current = transform_centers_of_mass(static, static_affine, moving, moving_affine)
    stages = ["centre of mass"]
    reg = AffineRegistration(
        metric=MutualInformationMetric(nbins=settings.nbins, sampling_proportion=settings.sampling_proportion),
        level_iters=list(settings.level_iters),
        sigmas=list(settings.sigmas),
        factors=list(settings.factors),
        verbosity=0,
    )
    kinds = {"translation": TranslationTransform3D, "rigid": RigidTransform3D, "affine": AffineTransform3D}
    for stage in settings.stages:
        current = reg.optimize(
            static,
            moving,
            kinds[stage](),
            None,
            static_grid2world=static_affine,
            moving_grid2world=moving_affine,
            starting_affine=current.affine,
        )
        stages.append(stage)
    found = Registration(
        affine=np.asarray(current.affine),
        static_shape=static.shape,
        static_affine=static_affine,
        moving_shape=moving.shape,
        moving_affine=moving_affine,
        similarity=0.0,
        similarity_affine=0.0,
        stages=stages,
    )
    found.similarity = found.similarity_affine = similarity(static, found.transform(moving), mask)
    if settings.syn_level_iters:
        _refine_syn(found, static, moving, mask, settings)
    found.seconds = time.perf_counter() - started
    return found


def _refine_syn(found, static, moving, mask, settings):
    """SyN after the affine, kept only where it improves the similarity figure (a deformation that
    does not make the images more alike is not evidence of anatomy)."""
    from dipy.align.imwarp import SymmetricDiffeomorphicRegistration
    from dipy.align.metrics import CCMetric

    radius = syn_radius(static.shape, len(settings.syn_level_iters))
    if radius is None:
        return  # too few voxels for a local correlation at the coarsest level: the affine stands
    sdr = SymmetricDiffeomorphicRegistration(CCMetric(3, radius=radius), level_iters=list(settings.syn_level_iters))
    mapping = sdr.optimize(
        static,
        moving,
        static_grid2world=found.static_affine,
        moving_grid2world=found.moving_affine,
        prealign=found.affine,
    )
    score = similarity(static, mapping.transform(moving), mask)
    if score > found.similarity:
        found.syn, found.similarity = mapping, score


def syn_radius(shape, levels, largest=4):
    """The radius of SyN's local cross-correlation (dipy's default 4 voxels), smaller for a small grid:
    at the coarsest of ``levels`` (each halving the grid) every side must exceed ``2 * radius + 1``.
    None when not even a radius of 1 fits (a grid of a few voxels, such as a cropped test volume)."""
    coarsest = min(int(n) // 2 ** (levels - 1) for n in tuple(shape)[:3])
    radius = min(largest, (coarsest - 2) // 2)
    return radius if radius >= 1 else None


def carry_labels(labels, registration: Registration) -> np.ndarray:
    """Labels drawn on the moving scan's grid, on the static scan's grid (nearest neighbour through
    the found transform; integer labels, never blended)."""
    return registration.transform(labels, nearest=True)
