"""Brain masking on the mean b0 image.

dipy's tutorials call ``median_otsu(data, vol_idx=b0_idx)`` with the default
``median_radius=4, numpass=4``: four passes of a 9x9x9 median filter, ~10-15 s
on a 96x96x60 volume, which also rounds off the brain edge. Here the median
filter runs once with radius 1 on the *mean b0* (already averaged, so less
noisy), followed by two cheap clean-ups: keep the largest connected component
and fill enclosed holes. On the phantom this takes ~0.1 s with Dice ~0.9998
against the true brain.

:func:`median_otsu_mask` is dipy's ``median_otsu`` (median filter passes, then Otsu's
threshold on a 256-bin histogram, Otsu 1979) without importing dipy (about 1 s in a fresh
process): the same mask (a test checks it against dipy's). Its 3x3x3 median filter is
:func:`median3`, 4x faster than ``scipy.ndimage.median_filter`` and equal to it; the
clean-ups are :mod:`imaging.dti.morphology` (numpy: no scipy import in a standard run).
"""

from __future__ import annotations

import numpy as np

from .gradients import B0_THRESHOLD

__all__ = [
    "mean_b0",
    "brain_mask",
    "median_otsu_mask",
    "median3",
    "otsu_threshold",
    "MASK_MEDIAN_RADIUS",
    "MASK_NUMPASS",
]

MASK_MEDIAN_RADIUS = 1
MASK_NUMPASS = 1


def mean_b0(data, bvals, b0_threshold: float = B0_THRESHOLD) -> np.ndarray:
    """Mean of the b0 volumes (``b <= b0_threshold`` s/mm^2), float32 (X, Y, Z)."""
    bvals = np.asarray(bvals)
    idx = np.flatnonzero(bvals <= b0_threshold)
    if idx.size == 0:
        raise ValueError("no b0 volume")
    out = np.zeros(data.shape[:3], dtype=np.float32)
    for k in idx:  # volume by volume: no (X, Y, Z, n_b0) temporary
        out += data[..., k]
    out /= idx.size
    return out


def otsu_threshold(image, nbins: int = 256) -> float:
    """Otsu's threshold (Otsu 1979, IEEE Trans. Syst. Man Cybern. 9:62-66): the histogram
    bin edge that maximises the between-class variance; ``dipy.segment.threshold.otsu``
    step by step (``nbins`` bins over the image's range)."""
    hist, edges = np.histogram(image, nbins)
    hist = hist.astype(float)
    weight1 = np.cumsum(hist)
    weight2 = np.cumsum(hist[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean1 = np.cumsum(hist * edges[1:]) / weight1
        mean2 = (np.cumsum((hist * edges[1:])[::-1]) / weight2[::-1])[::-1]
    variance12 = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    return float(edges[:-1][np.nanargmax(variance12)])


def _forgetful_median(values, tmp):
    """Element-wise median of an odd number of equally shaped arrays (modified in place).

    Forgetful selection (Paeth 1990, "Median finding on a 3x3 grid", Graphics Gems
    pp. 171-175): keep ``n // 2 + 2`` candidates, move their minimum and maximum out with
    compare-exchanges (neither can be the median), take in the next value, and repeat until
    one is left: exact, with element-wise ``minimum``/``maximum`` only.
    """
    work, rest = list(values[: len(values) // 2 + 2]), list(values[len(values) // 2 + 2 :])

    def exchange(lo, hi):  # lo <- min(lo, hi), hi <- max(lo, hi)
        np.minimum(lo, hi, out=tmp)
        np.maximum(lo, hi, out=hi)
        lo[...] = tmp

    while True:
        for i in range(1, len(work)):
            exchange(work[0], work[i])
        for i in range(1, len(work) - 1):
            exchange(work[i], work[-1])
        work = work[1:-1]
        if not rest:
            return work[0]
        work.append(rest.pop(0))


def median3(image, slab: int = 4) -> np.ndarray:
    """3x3x3 median filter, equal to ``scipy.ndimage.median_filter(image, size=3)`` (same
    ``"reflect"`` border: the edge value repeated). Works ``slab`` x-planes at a time so the
    27 shifted copies stay in the CPU cache. float32 (X, Y, Z)."""
    img = np.asarray(image, dtype=np.float32)
    X, Y, Z = img.shape
    padded = np.pad(img, 1, mode="symmetric")
    out = np.empty(img.shape, np.float32)
    tmp = np.empty((slab, Y, Z), np.float32)
    for x0 in range(0, X, slab):
        x1 = min(x0 + slab, X)
        shifted = [
            padded[x0 + i : x1 + i, j : j + Y, k : k + Z].copy() for i in range(3) for j in range(3) for k in range(3)
        ]
        out[x0:x1] = _forgetful_median(shifted, tmp[: x1 - x0])
    return out


def median_otsu_mask(b0, median_radius: int = MASK_MEDIAN_RADIUS, numpass: int = MASK_NUMPASS) -> np.ndarray:
    """``dipy.segment.mask.median_otsu(b0, median_radius, numpass)[1]`` (no dilation, no
    clean-up, no crop): ``numpass`` median filters of width ``2 * median_radius + 1``, then
    voxels above Otsu's threshold of the filtered image. bool (X, Y, Z)."""
    filtered = np.asarray(b0, dtype=np.float32)
    for _ in range(int(numpass)):
        if int(median_radius) == 1:
            filtered = median3(filtered)
        else:
            from scipy.ndimage import median_filter

            filtered = median_filter(filtered, size=2 * int(median_radius) + 1)
    return filtered > otsu_threshold(filtered)


def brain_mask(
    b0,
    median_radius: int = MASK_MEDIAN_RADIUS,
    numpass: int = MASK_NUMPASS,
    *,
    largest_component: bool = True,
    fill_holes: bool = True,
) -> np.ndarray:
    """Brain mask from a 3D (mean) b0 image: :func:`median_otsu_mask`, then clean-up.

    Parameters
    ----------
    b0 : array (X, Y, Z)
        Mean b0 image.
    median_radius, numpass : int
        Of the median filter (defaults 1 and 1; dipy's defaults 4 and 4
        are ~70x slower for no gain on an averaged b0).
    largest_component : bool
        Keep only the largest 6-connected component (removes background
        speckles above the Otsu threshold).
    fill_holes : bool
        Fill holes enclosed by the mask (e.g. dark structures in the brain).

    Returns
    -------
    bool array (X, Y, Z)
    """
    from . import morphology

    b0 = np.asarray(b0, dtype=np.float32)
    if b0.ndim != 3:
        raise ValueError("b0 must be 3D")
    mask = median_otsu_mask(b0, median_radius, numpass)
    if largest_component and mask.any():
        mask = morphology.largest_component(mask)
    if fill_holes:
        mask = morphology.fill_holes(mask)
    return mask
