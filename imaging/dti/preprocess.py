"""Pre-processing of the ``full`` profile: MP-PCA denoising, Gibbs unringing
and rigid motion correction with b-vector rotation (in that order).

* :func:`denoise_mppca`: :func:`imaging.dti.mppca.mppca` (Veraart 2016, dipy's algorithm on a
  lattice of patch centres every 2 voxels, batched eigen-decompositions, two threads).
* :func:`unring`: :func:`imaging.dti.gibbs.unring` (Kellner 2016, dipy's algorithm batched
  over all lines, 16 subvoxel shifts a side over dipy's range).
* :func:`motion_correct`: every volume is registered to a reference of its own contrast
  (b0 volumes to the mean b0; diffusion-weighted volumes to the voxel-wise median of their
  shell, which a few moved volumes do not shift) by :class:`imaging.dti.motion.RigidRegistration`
  (least squares, Gauss-Newton, two resolutions); each shell's median is registered once to
  the mean b0 across contrasts (dipy's ``affine_registration``, mutual information), and
  each volume's transform is the composition. Frame: mm along the voxel axes, origin at the
  centre of the field of view. Hence

  * translations are in mm along the voxel axes, measured at the image centre;
  * the rotation ``R`` of a volume is expressed in the voxel axes, the same
    frame as the b-vectors, and each diffusion b-vector becomes ``R^T g``
    (= ``R^-1 g``; dipy's ``reorient_bvecs`` convention: the transform maps
    reference coordinates to the moved volume's coordinates).
"""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from .gradients import B0_THRESHOLD
from .motion import RigidRegistration, centred_grid_affine

__all__ = ["denoise_mppca", "unring", "motion_correct", "rigid_parameters", "centred_grid_affine"]


def denoise_mppca(data, mask=None, patch_radius: int = 2, n_threads: int = 1):
    """MP-PCA denoising (:func:`imaging.dti.mppca.mppca`).

    Parameters
    ----------
    data : array (X, Y, Z, N)
    mask : bool array (X, Y, Z), optional
        Denoise only there (zeros elsewhere).
    patch_radius : int
    n_threads : int

    Returns
    -------
    denoised : float32 array (X, Y, Z, N), Fortran order
    sigma : float32 array (X, Y, Z)
        Estimated noise standard deviation.
    """
    from .mppca import mppca

    den, sigma = mppca(data, mask, radius=patch_radius, n_threads=n_threads)
    return np.asfortranarray(den), sigma


def unring(data, mask=None, slice_axis: int = 2, n_points: int = 3, n_threads: int = 1):
    """Gibbs unringing (:func:`imaging.dti.gibbs.unring`) of the lines that cross ``mask``.
    Returns the corrected float32 array (Fortran order)."""
    from .gibbs import unring as _unring

    out = _unring(data, slice_axis=slice_axis, n_points=n_points, mask=mask, n_threads=n_threads)
    # volumes contiguous again (Fortran order), as the rest of the pipeline expects
    return np.asfortranarray(out, dtype=np.float32)


@contextlib.contextmanager
def _quiet_dipy():
    """Silence dipy's INFO log lines during registration."""
    log = logging.getLogger("dipy")
    old = log.level
    log.setLevel(max(old, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(old)


def rigid_parameters(A) -> dict:
    """Translation (mm) and rotation (degrees) of a 4x4 (near-)rigid matrix.

    Returns ``{"translation_mm": [tx, ty, tz], "rotation_deg": [rx, ry, rz]
    (xyz Euler), "translation_norm_mm": |t|, "rotation_angle_deg": total
    rotation angle}``.
    """
    from scipy.linalg import polar
    from scipy.spatial.transform import Rotation

    A = np.asarray(A, dtype=float)
    R, _ = polar(A[:3, :3])
    if np.linalg.det(R) < 0:  # should not happen for rigid transforms
        R = -R
    rot = Rotation.from_matrix(R)
    t = A[:3, 3]
    return {
        "translation_mm": [round(float(v), 4) for v in t],
        "rotation_deg": [round(float(v), 4) for v in rot.as_euler("xyz", degrees=True)],
        "translation_norm_mm": round(float(np.linalg.norm(t)), 4),
        "rotation_angle_deg": round(float(np.degrees(np.linalg.norm(rot.as_rotvec()))), 4),
    }


def _shell_of(bvals, b0_threshold):
    """Index of each volume's group: -1 for b0, else the nearest shell's rank."""
    from .gradients import shells

    nominal = np.array([b for b, _ in shells(bvals, b0_threshold) if b > 0] or [0.0])
    group = np.argmin(np.abs(np.asarray(bvals, dtype=float)[:, None] - nominal[None, :]), axis=1)
    return np.where(np.asarray(bvals) <= b0_threshold, -1, group)


def _across_contrast(reference, moving, grid, mask):
    """Rigid transform from ``reference`` (mean b0) to ``moving`` (a shell's median) by
    mutual information (dipy), once per shell."""
    from dipy.align import affine_registration

    with _quiet_dipy():
        _, A = affine_registration(
            moving,
            reference,
            moving_affine=grid,
            static_affine=grid,
            pipeline=["rigid"],
            level_iters=[100, 50, 5],  # full resolution only polishes (once per shell)
            sigmas=[2.0, 1.0, 0.0],
            factors=[4, 2, 1],
            static_mask=None if mask is None else mask.astype(np.int32),
        )
    return A


def motion_correct(
    data,
    bvals,
    bvecs,
    zooms,
    *,
    b0_threshold: float = B0_THRESHOLD,
    static_mask=None,
    n_threads: int = 1,
    progress=None,
):
    """Rigid motion correction of every volume, with b-vector rotation (module docstring).

    Parameters
    ----------
    data : float32 array (X, Y, Z, N)
        Modified in place (each moved volume replaced by its resampled version).
    bvals : array (N,) s/mm^2
    bvecs : array (N, 3)
    zooms : (3,) voxel size in mm
    static_mask : bool array (X, Y, Z), optional
        Where the images are compared (the brain, dilated).
    n_threads : int
        Volumes registered at once.
    progress : callable(float), optional
        Fraction done after each volume.

    Returns
    -------
    data : float32 array (X, Y, Z, N)
        The corrected data (same object as the input when it was float32).
    bvecs_rot : array (N, 3)
        b-vectors rotated by each volume's rotation (b0 rows unchanged).
    motion : dict
        ``per_volume`` (list of :func:`rigid_parameters` dicts plus
        ``volume`` and ``bval``), ``max_translation_mm``,
        ``mean_translation_mm``, ``max_rotation_deg``, ``mean_rotation_deg``,
        ``affines`` (N x 4 x 4 lists), ``method``.
    """
    from concurrent.futures import ThreadPoolExecutor

    from scipy import ndimage as ndi
    from scipy.linalg import polar

    from .mask import mean_b0

    data = np.asarray(data, dtype=np.float32)
    bvals = np.asarray(bvals, dtype=float)
    bvecs = np.asarray(bvecs, dtype=float)
    N = data.shape[-1]
    grid = centred_grid_affine(data.shape, zooms)
    inv_grid = np.linalg.inv(grid)
    mask = None if static_mask is None else np.asarray(static_mask, dtype=bool)
    group = _shell_of(bvals, b0_threshold)
    b0_ref = mean_b0(data, bvals, b0_threshold)
    # group -> (registration to the group's reference, the reference's transform from b0 space)
    references = {-1: (RigidRegistration(b0_ref, zooms, mask), np.eye(4))}
    for g in sorted(set(group.tolist()) - {-1}):
        members = np.flatnonzero(group == g)
        median = np.empty(data.shape[:3], np.float32)
        for x in range(0, data.shape[0], 8):  # slab by slab: no copy of the whole shell
            median[x : x + 8] = np.median(data[x : x + 8][..., members], axis=-1)
        references[g] = (RigidRegistration(median, zooms, mask), _across_contrast(b0_ref, median, grid, mask))
    single_b0 = np.flatnonzero(group == -1)

    def register(k):
        if single_b0.size == 1 and k == single_b0[0]:
            return np.eye(4)  # the single b0 is the reference itself
        registration, to_reference = references[int(group[k])]
        return registration.register(data[..., k]) @ to_reference

    affines = np.zeros((N, 4, 4))
    done = 0
    with ThreadPoolExecutor(max_workers=max(1, int(n_threads))) as ex:
        for k, A in enumerate(ex.map(register, range(N))):
            affines[k] = A
            done += 1
            if progress is not None:
                progress(done / N)
    new_bvecs = bvecs.copy()
    per = []
    for k in range(N):
        A = affines[k]
        if not np.allclose(A, np.eye(4)):
            V = inv_grid @ A @ grid  # reference voxel -> this volume's voxel
            data[..., k] = ndi.affine_transform(data[..., k], V[:3, :3], V[:3, 3], order=1)
        if bvals[k] > b0_threshold:
            R, _ = polar(A[:3, :3])
            new_bvecs[k] = R.T @ bvecs[k]
        per.append({"volume": k, "bval": float(bvals[k]), **rigid_parameters(A)})
    tn = np.array([p["translation_norm_mm"] for p in per])
    rn = np.array([p["rotation_angle_deg"] for p in per])
    motion = {
        "method": (
            "rigid registration of each volume to the mean b0 or its shell's median (least squares, "
            "Gauss-Newton), shell medians to the mean b0 by mutual information (dipy)"
        ),
        "reference": "mean_b0",
        "per_volume": per,
        "max_translation_mm": float(tn.max()),
        "mean_translation_mm": float(tn.mean()),
        "max_rotation_deg": float(rn.max()),
        "mean_rotation_deg": float(rn.mean()),
        "affines": affines.round(6).tolist(),
    }
    return data, new_bvecs, motion
