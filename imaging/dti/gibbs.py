"""Gibbs-ringing removal by local subvoxel shifts (Kellner et al. 2016, Magn. Reson. Med.
76:1574-1581), batched over every line of every slice.

For each line of a slice (along one in-plane axis), the line is shifted by subvoxel amounts
``+s`` and ``-s`` (Fourier phase ramps); at every voxel, on each side, the shift whose
neighbourhood has the least total variation (``n_points`` differences to the left or to the
right, whichever is smaller) is kept, and the voxel's value is interpolated linearly between
the best positive and the best negative shift. The two in-plane axes are corrected separately
and merged in k-space with Kellner's weights ``(1 + cos ky) / (2 + cos kx + cos ky)`` (and the
transpose), which take each direction where its ringing dominates.

This is ``dipy.denoise.gibbs.gibbs_removal`` step by step (a test checks equality with
dipy's shift sampling): dipy loops over slices; here all lines of a block of slices are
transformed together and two threads share the blocks (scipy.fft and numpy release the GIL).
By default the shifts span dipy's range (0.02 to 0.9 voxel) in 16 steps instead of 45: the
same correction on a ringing phantom (residual ringing and total variation equal to dipy's
within 0.1 %; tests/dti/test_preprocessing_quality.py) for about a third of the work. The
range matters, the density does not: Kellner's and MRtrix3's shifts up to half a voxel leave
visibly more ringing on that phantom.
"""

from __future__ import annotations

import numpy as np

from ._blas import for_each_block

__all__ = ["unring", "DEFAULT_SHIFTS", "DIPY_SHIFTS"]

# dipy.denoise.gibbs._gibbs_removal_1d: 45 shifts from 0.02 to 0.9 voxel
DIPY_SHIFTS = np.linspace(0.02, 0.9, num=45)
DEFAULT_SHIFTS = np.linspace(0.02, 0.9, num=16)
_BLOCK_LINES = 2048  # lines transformed together (a few MB of complex64: in cache)


def _tv(lines, n_points):
    """Total variation to the right and to the left of each sample over ``n_points``
    differences (periodic), the smaller of the two; ``(L, n)`` -> ``(L, n)``. The sums run
    in dipy's order, so the choices (and results) are dipy's to the last bit."""
    n, p = lines.shape[1], n_points
    ext = np.concatenate((lines[:, n - p :], lines, lines[:, :p]), axis=1)
    d = np.abs(ext[:, 1:] - ext[:, :-1])  # d[j] = |x[j + 1 - p] - x[j - p]|
    right = d[:, p : p + n].copy()
    left = d[:, p - 1 : p - 1 + n].copy()
    for k in range(1, p):
        right += d[:, p + k : p + k + n]
        left += d[:, p - 1 - k : p - 1 - k + n]
    return np.minimum(right, left, out=right)


def _unring_lines(lines, shifts, n_points):
    """Correct each row of ``lines`` ``(L, n)`` float32 (dipy's ``_gibbs_removal_1d``)."""
    import scipy.fft as fft

    n = lines.shape[1]
    coeffs = fft.fft(lines, axis=1)
    k = fft.fftfreq(n, 1 / (2.0j * np.pi)).astype(coeffs.dtype)
    tv0 = _tv(lines, n_points)
    tv_pos, tv_neg = tv0, tv0.copy()
    best_pos, best_neg = lines.copy(), lines.copy()
    s_pos = np.zeros(lines.shape, np.float32)
    s_neg = np.zeros(lines.shape, np.float32)
    for s in shifts:
        ramp = np.exp(k * np.float32(s))
        for sign_ramp, tv_best, best, s_best in (
            (ramp, tv_pos, best_pos, s_pos),
            (np.conj(ramp), tv_neg, best_neg, s_neg),
        ):
            shifted = np.abs(fft.ifft(coeffs * sign_ramp, axis=1))
            tv = _tv(shifted, n_points)
            better = tv_best > tv
            np.copyto(best, shifted, where=better)
            np.copyto(s_best, np.float32(s), where=better)
            np.copyto(tv_best, tv, where=better)
    total = s_pos + s_neg
    out = lines.copy()
    moved = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        interp = (best_pos - best_neg) / total * s_neg + best_neg
    np.copyto(out, interp, where=moved)
    return out


def _weights(shape):
    """Kellner's k-space weights ``(G0, G1)`` for merging the two 1D corrections (dipy's)."""
    G0 = np.zeros(shape)
    G1 = np.zeros(shape)
    k0 = np.linspace(-np.pi, np.pi, num=shape[0])
    k1 = np.linspace(-np.pi, np.pi, num=shape[1])
    K1, K0 = np.meshgrid(k1[1:-1], k0[1:-1])
    cosk0 = 1.0 + np.cos(K0)
    cosk1 = 1.0 + np.cos(K1)
    G1[1:-1, 1:-1] = cosk0 / (cosk0 + cosk1)
    G0[1:-1, 1:-1] = cosk1 / (cosk0 + cosk1)
    G1[1:-1, 0] = G1[1:-1, -1] = 1
    G1[0, 0] = G1[-1, -1] = G1[0, -1] = G1[-1, 0] = 1 / 2
    G0[0, 1:-1] = G0[-1, 1:-1] = 1
    G0[0, 0] = G0[-1, -1] = G0[0, -1] = G0[-1, 0] = 1 / 2
    return G0, G1


def _unring_some(lines, active, shifts, n_points):
    """``lines`` with the ``active`` rows corrected (the others as they are)."""
    if active is None:
        return _unring_lines(lines, shifts, n_points)
    out = lines.copy()
    if active.any():
        out[active] = _unring_lines(lines[active], shifts, n_points)
    return out


def _unring_slices(slices, shifts, n_points, G0, G1, rows=None, cols=None):
    """Correct a stack of 2D slices ``(S, a, b)`` float32 (dipy's ``_gibbs_removal_2d``);
    ``rows`` ``(S, a)`` and ``cols`` ``(S, b)`` say which lines to correct (default all)."""
    import scipy.fft as fft

    S, a, b = slices.shape
    flat = None if rows is None else rows.reshape(-1)
    along1 = _unring_some(slices.reshape(S * a, b), flat, shifts, n_points).reshape(S, a, b)
    flat = None if cols is None else cols.reshape(-1)
    along0 = _unring_some(slices.transpose(0, 2, 1).reshape(S * b, a), flat, shifts, n_points)
    along0 = along0.reshape(S, b, a).transpose(0, 2, 1)
    C1 = fft.fftshift(fft.fft2(along1), axes=(1, 2))
    C0 = fft.fftshift(fft.fft2(along0), axes=(1, 2))
    return np.abs(fft.ifft2(C1 * G1.astype(np.float32) + C0 * G0.astype(np.float32))).astype(np.float32)


def unring(data, *, slice_axis: int = 2, n_points: int = 3, shifts=None, mask=None, n_threads: int = 1):
    """Remove Gibbs ringing from a 3D or 4D image, slice by slice (module docstring).

    Parameters
    ----------
    data : array (X, Y, Z[, N])
    slice_axis : int
        Axis across the acquired slices (0, 1 or 2); the other two are in-plane.
    n_points : int
        Differences on each side in the total variation (dipy's ``n_points``; Kellner's
        window).
    shifts : array, optional
        Subvoxel shifts tried on each side (voxels). Default :data:`DEFAULT_SHIFTS`;
        :data:`DIPY_SHIFTS` reproduces dipy.
    mask : bool array (X, Y, Z), optional
        Correct only the lines that cross it (the rest is background: the ringing that
        matters lies on lines through the brain); default every line.
    n_threads : int
        Threads sharing the slices.

    Returns
    -------
    float32 array, the shape of ``data``.
    """
    shifts = DEFAULT_SHIFTS if shifts is None else np.asarray(shifts, dtype=float)
    vol = np.asarray(data, dtype=np.float32)
    if vol.ndim not in (3, 4):
        raise ValueError("data must be 3D or 4D")
    four = vol.ndim == 4
    moved = np.moveaxis(vol, (slice_axis, 3) if four else slice_axis, (0, 1) if four else 0)
    plane = moved.shape[-2:]
    stack = np.ascontiguousarray(moved.reshape((-1,) + plane))
    G0, G1 = _weights(plane)
    per_block = max(1, _BLOCK_LINES // max(plane))
    out = np.empty_like(stack)
    rows = cols = None
    if mask is not None:
        planes = np.moveaxis(np.asarray(mask, dtype=bool), slice_axis, 0)  # (slices, a, b)
        per_slice = stack.shape[0] // planes.shape[0]  # volumes per slice position
        rows = np.repeat(planes.any(axis=2), per_slice, axis=0)  # (slices * volumes, a)
        cols = np.repeat(planes.any(axis=1), per_slice, axis=0)

    def work(start):
        block = slice(start, start + per_block)
        out[block] = _unring_slices(
            stack[block],
            shifts,
            n_points,
            G0,
            G1,
            None if rows is None else rows[block],
            None if cols is None else cols[block],
        )

    starts = range(0, stack.shape[0], per_block)
    for_each_block(work, starts, n_threads)
    out = out.reshape(moved.shape)
    return np.moveaxis(out, (0, 1) if four else 0, (slice_axis, 3) if four else slice_axis)
