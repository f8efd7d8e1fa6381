"""MP-PCA denoising (Veraart et al. 2016, NeuroImage 142:394-406), batched.

Each patch (``2r+1`` voxels a side, all volumes) is centred, its covariance ``C`` (N x N
over volumes) eigen-decomposed, and the eigenvalues below the Marchenko-Pastur noise edge
dropped: the noise variance ``sigma^2`` is the mean of the ``c + 1`` smallest eigenvalues for
the largest ``c`` with ``L[c] - L[0] <= 4 sqrt((c + 1) / m) sigma^2`` (m voxels a patch), and
components with eigenvalue ``< (1 + sqrt(N / m))^2 sigma^2`` are noise. Every patch's
estimate is spread back over its voxels with the weight ``1 / (1 + N - n_noise)``, as dipy's
``genpca`` (``dipy.denoise.localpca.mppca``): with ``stride=1`` this is dipy's algorithm,
patch for patch (a test compares the two).

What differs is the work: patches are taken on a lattice of ``stride`` voxels (every voxel
still lies in several patches: 15-16 for stride 2 and radius 2, against 125 at stride 1),
batches of patches are decomposed at once (``numpy.linalg.eigh`` on stacks of N x N
matrices), and two threads share the batches (numpy's linear algebra releases the GIL).
"""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["mppca", "patch_centres", "DEFAULT_STRIDE", "DEFAULT_RADIUS"]

DEFAULT_RADIUS = 2
DEFAULT_STRIDE = 2
_BATCH = 1024


def _grow_cube(mask, r):
    """Dilation by a (2r+1)-cube, border excluded (separable: one axis at a time)."""
    out = mask.copy()
    for axis in range(3):
        src = out.copy()
        for s in range(1, r + 1):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis], hi[axis] = slice(None, -s), slice(s, None)
            out[tuple(hi)] |= src[tuple(lo)]
            out[tuple(lo)] |= src[tuple(hi)]
    return out


def patch_centres(mask, radius: int, stride: int) -> np.ndarray:
    """Centres ``(P, 3)`` of the patches: a lattice of ``stride`` voxels (plus the last valid
    index on each axis) within ``radius`` of the border, kept where a patch reaches the mask
    closely enough that every mask voxel lies in at least one patch."""
    mask = np.asarray(mask, dtype=bool)
    axes = []
    for n in mask.shape:
        if n < 2 * radius + 1:
            raise ValueError(f"every side must be at least {2 * radius + 1} voxels for patches of radius {radius}")
        idx = np.arange(radius, n - radius, stride)
        axes.append(np.union1d(idx, [n - 1 - radius]))
    near = _grow_cube(mask, max(stride - 1, 0)) if stride > 1 else mask
    grid = np.ix_(*axes)
    keep = near[grid]
    ii, jj, kk = np.nonzero(keep)
    return np.stack([axes[0][ii], axes[1][jj], axes[2][kk]], axis=1)


def _noise_variance(evals, m):
    """Marchenko-Pastur noise variance of each row of ascending eigenvalues ``(B, N)``
    (dipy's ``_pca_classifier``, vectorised)."""
    B, N = evals.shape
    if N > m - 1:  # only m - 1 eigenvalues can be non-zero
        evals = evals[:, -(m - 1) :]
        N = m - 1
    c = np.arange(N)
    cummean = np.cumsum(evals, axis=1) / (c + 1)
    r = evals - evals[:, :1] - 4.0 * np.sqrt((c + 1.0) / m) * cummean
    last = np.where(r <= 0, c, -1).max(axis=1)
    last = np.maximum(last, 0)
    return cummean[np.arange(B), last]


def _denoise_batch(data, centres, radius, tau_factor):
    """Denoised patches ``(B, N, m)``, their weights and noise variances for the centres."""
    size = 2 * radius + 1
    offsets = np.arange(-radius, radius + 1)
    # gather (B, m, N): patch voxels in C order of (dx, dy, dz)
    ix = centres[:, 0, None, None, None] + offsets[None, :, None, None]
    iy = centres[:, 1, None, None, None] + offsets[None, None, :, None]
    iz = centres[:, 2, None, None, None] + offsets[None, None, None, :]
    X = data[ix, iy, iz].reshape(len(centres), size**3, data.shape[-1])
    m, N = X.shape[1], X.shape[2]
    mean = X.mean(axis=1, keepdims=True)
    X -= mean
    C = np.matmul(X.transpose(0, 2, 1), X)
    C /= m
    evals, evecs = np.linalg.eigh(C)  # ascending
    var = _noise_variance(evals, m)
    tau = (tau_factor**2) * var
    noise = evals < tau[:, None]  # (B, N): the first n_noise components (ascending)
    n_noise = noise.sum(axis=1)
    evecs *= ~noise[:, None, :]  # drop the noise components (columns)
    est = np.matmul(np.matmul(X, evecs), evecs.transpose(0, 2, 1))
    est += mean
    theta = 1.0 / (1.0 + N - n_noise)
    return est, theta.astype(np.float32), var.astype(np.float32)


def mppca(data, mask=None, *, radius: int = DEFAULT_RADIUS, stride: int = DEFAULT_STRIDE, n_threads: int = 1):
    """MP-PCA denoising of a 4D series (module docstring).

    Parameters
    ----------
    data : array (X, Y, Z, N)
        Magnitude signal; float32 is used for the computation.
    mask : bool array (X, Y, Z), optional
        Voxels to denoise (zeros elsewhere, as dipy). Default: all.
    radius : int
        Patch radius (patches of ``2 * radius + 1`` voxels a side; dipy's default 2).
    stride : int
        Spacing of the patch centres (1: every voxel, as dipy).
    n_threads : int
        Threads sharing the patches.

    Returns
    -------
    denoised : float32 (X, Y, Z, N), C order
        Non-negative; zero outside the mask.
    sigma : float32 (X, Y, Z)
        Noise standard deviation (weighted over the patches covering each voxel).
    """
    data = np.ascontiguousarray(data, dtype=np.float32)
    shape, N = data.shape[:3], data.shape[-1]
    mask = np.ones(shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    m = (2 * radius + 1) ** 3
    tau_factor = 1.0 + np.sqrt(N / m)
    centres = patch_centres(mask, radius, stride)
    thetax = np.zeros(data.shape, np.float32)
    theta = np.zeros(shape, np.float32)
    thetavar = np.zeros(shape, np.float32)
    span = range(-radius, radius + 1)
    offsets = [(dx, dy, dz) for dx in span for dy in span for dz in span]  # C order, as the patches
    lock = threading.Lock()

    def work(start):
        c = centres[start : start + _BATCH]
        est, th, var = _denoise_batch(data, c, radius, tau_factor)
        est *= th[:, None, None]
        with lock:  # patches of different batches overlap
            for k, (dx, dy, dz) in enumerate(offsets):
                # one offset: distinct centres give distinct voxels, so += adds each once
                idx = (c[:, 0] + dx, c[:, 1] + dy, c[:, 2] + dz)
                thetax[idx] += est[:, k]
                theta[idx] += th
                thetavar[idx] += th * var

    from ._blas import blas_threads, for_each_block

    starts = range(0, len(centres), _BATCH)
    with blas_threads(1):  # LAPACK on small matrices: OpenBLAS threads only spin (30x slower)
        for_each_block(work, starts, n_threads)
    with np.errstate(invalid="ignore", divide="ignore"):
        denoised = thetax / theta[..., None]
        sigma = np.sqrt(thetavar / theta)
    denoised = np.nan_to_num(denoised, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(denoised, 0, None, out=denoised)
    denoised[~mask] = 0
    sigma = np.nan_to_num(sigma, copy=False, nan=0.0)
    sigma[~mask] = 0
    return denoised, sigma
