"""Pre-processing of the ``full`` profile: MP-PCA denoising, Gibbs unringing
and rigid motion correction with b-vector rotation (in that order).

Motion correction registers every volume to the mean b0 image with dipy's
``affine_registration`` (mutual information, rigid = 3 translations + 3
rotations), in a frame whose axes are the voxel axes scaled to mm and whose
origin is the centre of the field of view. Hence

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

__all__ = ["denoise_mppca", "unring", "motion_correct", "rigid_parameters", "centred_grid_affine"]


def denoise_mppca(data, mask=None, patch_radius: int = 2):
    """MP-PCA denoising (``dipy.denoise.localpca.mppca``).

    Parameters
    ----------
    data : array (X, Y, Z, N)
    mask : bool array (X, Y, Z), optional
        Denoise only there (zeros elsewhere), much faster.
    patch_radius : int

    Returns
    -------
    denoised : float32 array (X, Y, Z, N), Fortran order
    sigma : float32 array (X, Y, Z)
        Estimated noise standard deviation.
    """
    from dipy.denoise.localpca import mppca

    with np.errstate(invalid="ignore", divide="ignore"):
        den, sigma = mppca(
            data, mask=mask, patch_radius=patch_radius, return_sigma=True, out_dtype=np.float32, suppress_warning=True
        )
    den = np.nan_to_num(np.asfortranarray(den, dtype=np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    sigma = np.nan_to_num(np.asarray(sigma, dtype=np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return den, sigma


def unring(data, slice_axis: int = 2, n_points: int = 3):
    """Gibbs unringing (``dipy.denoise.gibbs.gibbs_removal``), in place when
    possible. Returns the corrected float32 array."""
    from dipy.denoise.gibbs import gibbs_removal

    data = np.asarray(data, dtype=np.float32)
    out = gibbs_removal(data, slice_axis=slice_axis, n_points=n_points, inplace=True, num_processes=1)
    # volumes contiguous again (Fortran order), as the rest of the pipeline expects
    return np.asfortranarray(out, dtype=np.float32)


@contextlib.contextmanager
def _quiet_dipy():
    """Silence dipy's per-volume INFO log lines during registration."""
    log = logging.getLogger("dipy")
    old = log.level
    log.setLevel(max(old, logging.WARNING))
    try:
        yield
    finally:
        log.setLevel(old)


def centred_grid_affine(shape, zooms) -> np.ndarray:
    """Voxel-to-mm affine with axes along the voxel axes and origin at the
    centre of the field of view."""
    zooms = np.asarray(zooms[:3], dtype=float)
    A = np.diag(list(zooms) + [1.0])
    A[:3, 3] = -zooms * (np.asarray(shape[:3], dtype=float) - 1) / 2.0
    return A


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


def motion_correct(
    data,
    bvals,
    bvecs,
    zooms,
    *,
    b0_threshold: float = B0_THRESHOLD,
    reference=None,
    static_mask=None,
    level_iters=None,
    sigmas=None,
    factors=None,
    progress=None,
):
    """Rigid registration of every volume to the mean b0, with b-vector rotation.

    Parameters
    ----------
    data : float32 array (X, Y, Z, N)
        Modified in place (each volume replaced by its resampled version).
    bvals : array (N,) s/mm^2
    bvecs : array (N, 3)
    zooms : (3,) voxel size in mm
    reference : array (X, Y, Z), optional
        Target image (default: mean of the b0 volumes).
    static_mask : bool array (X, Y, Z), optional
        Restricts the similarity metric to this region of the reference.
    level_iters, sigmas, factors : sequences, optional
        Multi-resolution settings passed to ``affine_registration``. Default:
        ``[100, 50, 20]`` iterations, sigmas ``[2, 1, 0]``, factors
        ``[4, 2, 1]``; for small images (any side < 48 voxels) two levels
        ``[100, 30]``, ``[1, 0]``, ``[2, 1]``.
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
    from dipy.align import affine_registration

    from .mask import mean_b0

    data = np.asarray(data, dtype=np.float32)
    bvals = np.asarray(bvals, dtype=float)
    bvecs = np.asarray(bvecs, dtype=float)
    X, Y, Z, N = data.shape
    grid = centred_grid_affine(data.shape, zooms)
    if reference is None:
        reference = mean_b0(data, bvals, b0_threshold)
    reference = np.asarray(reference, dtype=np.float32)
    small = min(X, Y, Z) < 48
    if level_iters is None:
        level_iters = [100, 30] if small else [100, 50, 20]
    if sigmas is None:
        sigmas = [1.0, 0.0] if small else [2.0, 1.0, 0.0]
    if factors is None:
        factors = [2, 1] if small else [4, 2, 1]
    if static_mask is not None:
        static_mask = np.asarray(static_mask).astype(np.int32)
    b0_idx = np.flatnonzero(bvals <= b0_threshold)
    new_bvecs = bvecs.copy()
    per = []
    affines = np.zeros((N, 4, 4))
    for k in range(N):
        moving = np.ascontiguousarray(data[..., k])
        if b0_idx.size == 1 and k == b0_idx[0]:
            A = np.eye(4)  # the single b0 is the reference itself
        else:
            with _quiet_dipy():
                resampled, A = affine_registration(
                    moving,
                    reference,
                    moving_affine=grid,
                    static_affine=grid,
                    pipeline=["rigid"],
                    level_iters=list(level_iters),
                    sigmas=list(sigmas),
                    factors=list(factors),
                    static_mask=static_mask,
                )
            data[..., k] = resampled
        affines[k] = A
        params = rigid_parameters(A)
        if bvals[k] > b0_threshold:
            from scipy.linalg import polar

            R, _ = polar(A[:3, :3])
            new_bvecs[k] = R.T @ bvecs[k]
        per.append({"volume": k, "bval": float(bvals[k]), **params})
        if progress is not None:
            progress((k + 1) / N)
    tn = np.array([p["translation_norm_mm"] for p in per])
    rn = np.array([p["rotation_angle_deg"] for p in per])
    motion = {
        "method": "rigid registration of each volume to the mean b0 (dipy affine_registration, mutual information)",
        "reference": "mean_b0",
        "per_volume": per,
        "max_translation_mm": float(tn.max()),
        "mean_translation_mm": float(tn.mean()),
        "max_rotation_deg": float(rn.max()),
        "mean_rotation_deg": float(rn.mean()),
        "affines": affines.round(6).tolist(),
    }
    return data, new_bvecs, motion
