"""Vectorised diffusion-tensor fitting (OLS and WLS) and scalar maps.

The fit reproduces dipy's ``TensorModel(gtab, fit_method="WLS"|"OLS")``
(``dipy.reconst.dti.wls_fit_tensor`` / ``ols_fit_tensor``) step by step, but
solves all voxels of a chunk at once instead of one pseudo-inverse per voxel:

1. signals are clipped below at ``min_signal`` (dipy: ``MIN_POSITIVE_SIGNAL =
   1e-4``) and the log is taken in the data's own dtype (as dipy does);
2. OLS: ``beta = pinv(X) @ log(S)`` with dipy's design matrix ``X`` (G, 7)
   (``X[:, :6] = -b * [gx^2, 2gxgy, gy^2, 2gxgz, 2gygz, gz^2]``,
   ``X[:, 6] = -1`` so ``beta[6] = -log(S0)``);
3. WLS (Chung et al. 2006, as dipy): weights ``w = exp(X @ beta_OLS)`` (the
   OLS-predicted signal), then ``beta = argmin || w * (X beta - log S) ||^2``,
   solved here with the normal equations ``(X^T W^2 X) beta = X^T W^2 log S``
   on column-scaled ``X`` (dipy uses ``pinv(X * w)``; the two agree to
   rounding error for full-rank problems);
4. eigen-decomposition of the tensor, eigenvalues sorted descending and
   clipped below at ``min_diffusivity = 1e-6 / -X.min()`` (dipy's ``tol``).

Units: b in s/mm^2, diffusivities (eigenvalues, MD, AD, RD) in mm^2/s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MIN_SIGNAL",
    "DTIMaps",
    "design_matrix",
    "fit_tensor_signals",
    "eig_tensor",
    "fa_from_evals",
    "color_fa",
    "fit_dti",
    "default_threads",
]

MIN_SIGNAL = 1e-4  # dipy.reconst.dti.MIN_POSITIVE_SIGNAL
DEFAULT_CHUNK = 32768
_MIN_DIFFUSIVITY_TOL = 1e-6  # dipy: min_diffusivity = tol / -X.min()


def design_matrix(gtab) -> np.ndarray:
    """DTI design matrix ``(G, 7)``, identical to ``dipy.reconst.dti.design_matrix``.

    Row ``j`` is ``-[b gx^2, 2 b gx gy, b gy^2, 2 b gx gz, 2 b gy gz, b gz^2, 1]``
    with ``b`` in s/mm^2, so ``log S = X @ [Dxx, Dxy, Dyy, Dxz, Dyz, Dzz,
    -log S0]``. Accepts any gradient table with ``bvals``/``bvecs``
    attributes (dipy's too; b-tensor encodings are not supported).
    """
    bvals = np.asarray(gtab.bvals, dtype=np.float64)
    g = np.asarray(gtab.bvecs, dtype=np.float64)
    if getattr(gtab, "btens", None) is not None:
        raise ValueError("b-tensor encoding is not supported")
    B = np.empty((bvals.size, 7))
    B[:, 0] = g[:, 0] * g[:, 0] * 1.0 * bvals
    B[:, 1] = g[:, 0] * g[:, 1] * 2.0 * bvals
    B[:, 2] = g[:, 1] * g[:, 1] * 1.0 * bvals
    B[:, 3] = g[:, 0] * g[:, 2] * 2.0 * bvals
    B[:, 4] = g[:, 1] * g[:, 2] * 2.0 * bvals
    B[:, 5] = g[:, 2] * g[:, 2] * 1.0 * bvals
    B[:, 6] = 1.0
    return -B


def _log_signal(signals, min_signal):
    # dipy: data = np.maximum(data, min_signal); log_s = np.log(data), in the
    # data's dtype (float32 data -> float32 log).
    s = np.maximum(signals, min_signal)
    if s.dtype.kind == "f":
        np.log(s, out=s)
    else:
        s = np.log(s)
    return s.astype(np.float64, copy=False)


class _Solver:
    """Pre-computed design-dependent matrices for one design matrix."""

    def __init__(self, X):
        X = np.asarray(X, dtype=np.float64)
        self.X = X
        self.Xt = np.ascontiguousarray(X.T)
        self.Xt32 = self.Xt.astype(np.float32)
        self.pinv_t = np.ascontiguousarray(np.linalg.pinv(X).T)  # (G, 7)
        scale = np.abs(X).max(axis=0)
        scale[scale == 0] = 1.0
        self.scale = scale
        Xs = X / scale
        self.Xs = np.ascontiguousarray(Xs)
        # products of column pairs i <= j, (G, 28); k-th pair -> (i, j)
        self.pairs = [(i, j) for i in range(7) for j in range(i, 7)]
        self.pair_index = {p: k for k, p in enumerate(self.pairs)}
        self.XX = np.ascontiguousarray(np.stack([Xs[:, i] * Xs[:, j] for i, j in self.pairs], axis=1))
        self.min_diffusivity = _MIN_DIFFUSIVITY_TOL / -X.min()


def _cholesky_solve(Aut_T, rhs_T, pair_index, k=7):
    """Solve SPD systems for many voxels at once.

    ``Aut_T`` is ``(28, n)`` (upper-triangle entries, one row per (i, j)
    pair), ``rhs_T`` is ``(7, n)``. Returns ``(x (7, n), ok (n,) bool)``;
    ``ok`` is False where the matrix was not numerically positive definite.
    """
    n = Aut_T.shape[1]
    L = [[None] * k for _ in range(k)]
    ok = np.ones(n, dtype=bool)
    for j in range(k):
        s = Aut_T[pair_index[(j, j)]].copy()
        for m in range(j):
            s -= L[j][m] * L[j][m]
        tiny = 1e-12 * np.abs(Aut_T[pair_index[(j, j)]])
        ok &= s > tiny
        d = np.sqrt(np.maximum(s, tiny + 1e-300))
        L[j][j] = d
        inv_d = 1.0 / d
        for i in range(j + 1, k):
            v = Aut_T[pair_index[(j, i)]].copy()
            for m in range(j):
                v -= L[i][m] * L[j][m]
            v *= inv_d
            L[i][j] = v
    z = [None] * k
    for i in range(k):
        v = rhs_T[i].copy()
        for m in range(i):
            v -= L[i][m] * z[m]
        v /= L[i][i]
        z[i] = v
    x = [None] * k
    for i in range(k - 1, -1, -1):
        v = z[i]
        for m in range(i + 1, k):
            v -= L[m][i] * x[m]
        v /= L[i][i]
        x[i] = v
    return np.stack(x), ok


def fit_tensor_signals(signals, X, method: str = "WLS", min_signal: float = MIN_SIGNAL, solver=None):
    """Fit tensors to a block of voxel signals.

    Parameters
    ----------
    signals : array (n, G)
        Signals of n voxels (any real dtype; float32 recommended).
    X : array (G, 7)
        Design matrix (see :func:`design_matrix`).
    method : {"WLS", "OLS"}
    min_signal : float
        Signals below this are clipped to it before the log (dipy: 1e-4).

    Returns
    -------
    beta : array (n, 7) float64
        ``[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz, -log(S0)]``; D in mm^2/s.
    """
    solver = solver or _Solver(X)
    y = _log_signal(np.asarray(signals), min_signal)  # (n, G) float64
    beta = y @ solver.pinv_t  # OLS, (n, 7)
    method = method.upper()
    if method in ("OLS", "LS", "LLS"):
        return beta
    if method not in ("WLS", "WLLS"):
        raise ValueError(f"unknown fit method {method!r}; use 'WLS' or 'OLS'")
    # dipy: w = exp(X @ beta_ols); WLS with weights w**2. A per-voxel constant
    # factor does not change the solution; subtract the max log-weight to keep
    # w**2 in range whatever the data.
    logw = beta @ solver.Xt
    logw -= logw.max(axis=1, keepdims=True)
    logw *= 2.0
    w2 = np.exp(logw, out=logw)
    Aut_T = (w2 @ solver.XX).T  # (28, n) view of a C array -> rows strided
    Aut_T = np.ascontiguousarray(Aut_T)
    w2 *= y
    rhs_T = np.ascontiguousarray((w2 @ solver.Xs).T)  # (7, n)
    del w2, logw
    xs, ok = _cholesky_solve(Aut_T, rhs_T, solver.pair_index)
    out = xs.T / solver.scale
    if not np.all(ok):
        # Numerically degenerate weights (practically never): per-voxel least
        # squares with the pseudo-inverse, exactly as dipy does.
        bad = ~ok
        w = np.exp(beta[bad] @ solver.Xt)
        Xw = solver.X[None] * w[..., None]
        out[bad] = np.einsum("nij,nj->ni", np.linalg.pinv(Xw), w * y[bad])
    return out


def eig_tensor(beta, min_diffusivity: float = 0.0):
    """Eigenvalues and principal eigenvector of tensors (closed form).

    Uses the trigonometric solution of the characteristic cubic for
    symmetric 3x3 matrices (Smith 1961), vectorised over voxels; agrees with
    ``numpy.linalg.eigh`` to ~1e-12 relative for generic tensors and ~1e-8
    relative for exactly repeated eigenvalues (noise-free cylindrical
    tensors), i.e. <= ~1e-8 in FA.

    Parameters
    ----------
    beta : array (n, >=6)
        ``[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz, ...]`` (dipy's lower-triangular order).
    min_diffusivity : float
        Eigenvalues below this are clipped to it, as dipy does.

    Returns
    -------
    evals : array (n, 3)
        Sorted descending, clipped.
    evec1 : array (n, 3)
        Unit principal eigenvector (sign arbitrary).
    nonphysical : array (n,) bool
        True where the smallest raw eigenvalue was negative.
    """
    b = np.asarray(beta, dtype=np.float64)
    m00, m01, m11, m02, m12, m22 = (b[:, k] for k in range(6))
    q = (m00 + m11 + m22) / 3.0
    d0, d1, d2 = m00 - q, m11 - q, m22 - q
    p1 = m01 * m01 + m02 * m02 + m12 * m12
    p = np.sqrt((d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * p1) / 6.0)
    iso = p <= 1e-14 * np.maximum(np.abs(q), 1e-300)
    inv_p = np.where(iso, 0.0, 1.0 / np.where(iso, 1.0, p))
    b00, b11, b22 = d0 * inv_p, d1 * inv_p, d2 * inv_p
    b01, b02, b12 = m01 * inv_p, m02 * inv_p, m12 * inv_p
    det = b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
    r = np.clip(0.5 * det, -1.0, 1.0)
    phi = np.arccos(r) / 3.0
    e1 = q + 2.0 * p * np.cos(phi)
    e3 = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    e2 = 3.0 * q - e1 - e3
    evals = np.stack([e1, e2, e3], axis=1)
    nonphysical = evals.min(axis=1) < 0

    # principal eigenvector: null vector of (M - e1 I) via row cross products
    r0 = np.stack([m00 - e1, m01, m02], axis=1)
    r1 = np.stack([m01, m11 - e1, m12], axis=1)
    r2 = np.stack([m02, m12, m22 - e1], axis=1)
    c = np.stack([np.cross(r0, r1), np.cross(r0, r2), np.cross(r1, r2)], axis=1)
    nrm = np.einsum("nkj,nkj->nk", c, c)
    best = np.argmax(nrm, axis=1)
    v = c[np.arange(c.shape[0]), best]
    nv = np.sqrt(nrm[np.arange(c.shape[0]), best])
    good = nv > 0
    v[good] /= nv[good, None]
    v[~good] = (1.0, 0.0, 0.0)
    evals = np.clip(evals, min_diffusivity, None)
    return evals, v, nonphysical


def fa_from_evals(evals):
    """Fractional anisotropy from eigenvalues ``(..., 3)`` (dipy's formula)."""
    evals = np.asarray(evals, dtype=np.float64)
    e1, e2, e3 = evals[..., 0], evals[..., 1], evals[..., 2]
    all_zero = np.all(evals == 0, axis=-1)
    return np.sqrt(0.5 * ((e1 - e2) ** 2 + (e2 - e3) ** 2 + (e3 - e1) ** 2) / ((evals * evals).sum(-1) + all_zero))


def color_fa(fa, evec1):
    """Colour FA: ``clip(FA, 0, 1) * |e1|`` with x red, y green, z blue.

    Parameters
    ----------
    fa : array (...)
    evec1 : array (..., 3)
        Principal eigenvector (components along the image voxel axes).

    Returns
    -------
    rgb : array (..., 3) float32 in [0, 1]
    """
    fa = np.clip(np.asarray(fa, dtype=np.float32), 0, 1)
    return (np.abs(np.asarray(evec1, dtype=np.float32)) * fa[..., None]).astype(np.float32, copy=False)


@dataclass
class DTIMaps:
    """Scalar maps of a tensor fit, all on the input grid ``(X, Y, Z)``.

    Attributes
    ----------
    fa : float32 (X, Y, Z)
        Fractional anisotropy (0 outside the mask).
    md, ad, rd : float32 (X, Y, Z)
        Mean, axial (lambda1) and radial ((lambda2+lambda3)/2) diffusivity in
        mm^2/s.
    evec1 : float32 (X, Y, Z, 3)
        Principal eigenvector (voxel axes).
    color_fa : float32 (X, Y, Z, 3)
        ``FA * |evec1|`` (RGB = x, y, z), values in [0, 1].
    s0 : float32 (X, Y, Z)
        Fitted non-diffusion-weighted signal.
    residual : float32 (X, Y, Z)
        Root-mean-square of (measured - predicted signal) over volumes,
        divided by the fitted S0 (dimensionless, e.g. 0.03 = 3 %).
    nonphysical : bool (X, Y, Z)
        Voxels whose raw tensor had a negative eigenvalue.
    mask : bool (X, Y, Z)
        Voxels that were fitted.
    method : str
    """

    fa: np.ndarray
    md: np.ndarray
    ad: np.ndarray
    rd: np.ndarray
    evec1: np.ndarray
    color_fa: np.ndarray
    s0: np.ndarray
    residual: np.ndarray
    nonphysical: np.ndarray
    mask: np.ndarray
    method: str = "WLS"


def _gather_plan(data, mask):
    """Return (2-D row view of data, flat indices of mask voxels, flat order)."""
    G = data.shape[-1]
    if data.flags.f_contiguous and not data.flags.c_contiguous:
        order = "F"
    else:
        order = "C"
    flat = data.reshape((-1, G), order=order)  # a view when contiguous
    idx = np.flatnonzero(mask.ravel(order=order))
    return flat, idx, order


def default_threads() -> int:
    """Worker threads for the fit: number of CPUs, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def fit_dti(
    data,
    gtab,
    mask=None,
    method: str = "WLS",
    *,
    chunk_size: int = DEFAULT_CHUNK,
    min_signal: float = MIN_SIGNAL,
    n_threads: int | None = None,
    progress=None,
) -> DTIMaps:
    """Fit the diffusion tensor in every mask voxel and compute scalar maps.

    Parameters
    ----------
    data : array (X, Y, Z, G)
        Diffusion-weighted signal (float32 recommended). It is never copied as
        a whole: voxels are gathered ``chunk_size`` at a time.
    gtab : GradientTable
        b-values in s/mm^2 (see :func:`imaging.dti.gradients.make_gradient_table`).
    mask : bool array (X, Y, Z), optional
        Voxels to fit (default: all).
    method : {"WLS", "OLS"}
        Weighted (default, dipy's WLS) or ordinary linear least squares.
    chunk_size : int
        Voxels per block; temporary memory is about ``chunk_size * G * 40``
        bytes per worker thread.
    min_signal : float
        Signals are clipped below at this value before the log (dipy: 1e-4).
    n_threads : int, optional
        Chunks fitted in parallel (numpy releases the GIL); BLAS is limited
        to one thread meanwhile. Default: :func:`default_threads`.
    progress : callable(float), optional
        Called from the calling thread with the fraction done (0..1).

    Returns
    -------
    DTIMaps
    """
    from ._blas import blas_threads

    data = np.asarray(data)
    if data.ndim != 4:
        raise ValueError("data must be 4D (X, Y, Z, G)")
    shape = data.shape[:3]
    if mask is None:
        mask = np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape:
        raise ValueError(f"mask shape {mask.shape} != data shape {shape}")
    X = design_matrix(gtab)
    if X.shape[0] != data.shape[-1]:
        raise ValueError("gradient table and data have different numbers of volumes")
    solver = _Solver(X)
    method = method.upper()
    if method not in ("WLS", "WLLS", "OLS", "LS", "LLS"):
        raise ValueError(f"unknown fit method {method!r}; use 'WLS' or 'OLS'")

    flat, idx, order = _gather_plan(data, mask)
    nvox = idx.size
    nflat = int(np.prod(shape))
    fa = np.zeros(nflat, np.float32)
    md = np.zeros(nflat, np.float32)
    ad = np.zeros(nflat, np.float32)
    rd = np.zeros(nflat, np.float32)
    s0 = np.zeros(nflat, np.float32)
    res = np.zeros(nflat, np.float32)
    ev1 = np.zeros((nflat, 3), np.float32)
    nonphys = np.zeros(nflat, bool)

    def work(start):
        sel = idx[start : start + chunk_size]
        sig = flat[sel]  # (n, G) copy of this chunk only
        beta = fit_tensor_signals(sig, X, method, min_signal, solver)
        evals, v1, bad = eig_tensor(beta, solver.min_diffusivity)
        fa[sel] = fa_from_evals(evals)
        md[sel] = evals.mean(axis=1)
        ad[sel] = evals[:, 0]
        rd[sel] = 0.5 * (evals[:, 1] + evals[:, 2])
        ev1[sel] = v1
        nonphys[sel] = bad
        s0_hat = np.exp(-beta[:, 6])
        s0[sel] = s0_hat
        # residual in float32 (QC only)
        pred = beta.astype(np.float32) @ solver.Xt32
        np.exp(pred, out=pred)
        pred -= sig
        np.square(pred, out=pred)
        res[sel] = np.sqrt(pred.mean(axis=1)) / s0_hat
        return sel.size

    chunk_size = max(1, int(chunk_size))
    starts = list(range(0, nvox, chunk_size))
    n_threads = default_threads() if n_threads is None else max(1, int(n_threads))
    done = 0
    with blas_threads(1):
        if n_threads == 1 or len(starts) < 2:
            for st in starts:
                done += work(st)
                if progress is not None:
                    progress(done / max(nvox, 1))
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=n_threads) as ex:
                # bounded submission keeps at most 2 * n_threads chunks queued
                pending = []
                it = iter(starts)
                for st in it:
                    pending.append(ex.submit(work, st))
                    if len(pending) >= 2 * n_threads:
                        done += pending.pop(0).result()
                        if progress is not None:
                            progress(done / max(nvox, 1))
                for f in pending:
                    done += f.result()
                    if progress is not None:
                        progress(done / max(nvox, 1))
    if progress is not None and nvox == 0:
        progress(1.0)

    def grid(a):
        return a.reshape(shape, order=order)

    fa3 = grid(fa)
    if order == "C":
        ev1_3 = ev1.reshape(shape + (3,))
    else:
        ev1_3 = np.stack([grid(ev1[:, k]) for k in range(3)], axis=-1)
    return DTIMaps(
        fa=fa3,
        md=grid(md),
        ad=grid(ad),
        rd=grid(rd),
        evec1=ev1_3,
        color_fa=color_fa(fa3, ev1_3),
        s0=grid(s0),
        residual=grid(res),
        nonphysical=grid(nonphys),
        mask=mask,
        method=method,
    )
