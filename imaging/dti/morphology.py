"""Binary morphology of 3D masks with numpy alone: connected components, hole filling,
dilation (6-connectivity, face neighbours, as scipy.ndimage's defaults).

The standard profile needs only these three operations of scipy.ndimage, whose import costs
about 0.3-0.4 s in a fresh process (a fifth of a whole command-line run); they give the same
results (tests compare them with ``scipy.ndimage.label``, ``binary_fill_holes`` and
``binary_dilation``).

Components are found on runs: each run of True voxels along the last axis is a node, runs
that share a face are joined (vectorised union-find: minimum label along the edges, then
pointer jumping, until nothing changes), and voxel labels are painted back from the runs.
"""

from __future__ import annotations

import numpy as np

__all__ = ["component_labels", "largest_component", "fill_holes", "dilate"]


def _runs(mask):
    """Runs of True along the last axis: ``(run_id per voxel (-1 outside), run lengths)``."""
    flat = mask.reshape(-1, mask.shape[-1])
    edges = np.diff(flat.astype(np.int8), axis=1, prepend=0)
    starts = edges == 1
    run_id = np.cumsum(starts.ravel(), dtype=np.int64).reshape(mask.shape)
    run_id -= 1
    run_id[~mask] = -1
    lengths = np.bincount(run_id[mask], minlength=int(starts.sum()))
    return run_id, lengths


def _join(labels, a, b):
    """Union of the node pairs ``(a[i], b[i])``: every node ends labelled with its component's
    smallest node."""
    while True:
        m = np.minimum(labels[a], labels[b])
        before = labels.copy()
        np.minimum.at(labels, a, m)
        np.minimum.at(labels, b, m)
        while True:  # pointer jumping: each node to its root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def component_labels(mask):
    """Connected components (6-connectivity) of a 3D bool array.

    Returns ``(labels, sizes)``: int64 labels (X, Y, Z), -1 outside the mask, components
    numbered 0..n-1 in the order of their first voxel (C order); ``sizes[k]`` voxels each.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError("mask must be 3D")
    run_id, lengths = _runs(mask)
    n = lengths.size
    if n == 0:
        return run_id, lengths
    keys = []
    for axis in (0, 1):  # runs along the last axis already join their own voxels
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        touching = mask[tuple(lo)] & mask[tuple(hi)]
        # along z the same two runs keep touching: take the first voxel of each contact
        touching[..., 1:] &= ~touching[..., :-1]
        keys.append(run_id[tuple(lo)][touching] * n + run_id[tuple(hi)][touching])
    keys = np.unique(np.concatenate(keys))  # each pair of touching runs once
    root = _join(np.arange(n), keys // n, keys % n)
    uniq, comp = np.unique(root, return_inverse=True)  # roots are the smallest run: C order
    sizes = np.bincount(comp, weights=lengths, minlength=uniq.size).astype(np.int64)
    labels = np.where(run_id >= 0, comp[np.maximum(run_id, 0)], -1)
    return labels, sizes


def largest_component(mask):
    """The largest 6-connected component of a 3D bool array (the first in C order on a tie,
    as ``argmax`` over ``scipy.ndimage.label``'s sizes)."""
    labels, sizes = component_labels(mask)
    if sizes.size <= 1:
        return np.asarray(mask, dtype=bool).copy()
    return labels == int(np.argmax(sizes))


def fill_holes(mask):
    """``mask`` with every background region that does not reach the array's border set
    (``scipy.ndimage.binary_fill_holes``)."""
    mask = np.asarray(mask, dtype=bool)
    labels, sizes = component_labels(~mask)
    border = np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel(), labels[:, :, [0, -1]].ravel()])
    outside = np.zeros(sizes.size + 1, dtype=bool)  # index -1: the mask itself
    outside[np.unique(border[border >= 0])] = True
    return ~outside[labels]


def dilate(mask, iterations: int = 1):
    """Dilation by the 6-neighbour cross, ``iterations`` times, nothing beyond the border
    (``scipy.ndimage.binary_dilation(mask, iterations=n)``)."""
    out = np.asarray(mask, dtype=bool).copy()
    for _ in range(int(iterations)):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown[:, :, 1:] |= out[:, :, :-1]
        grown[:, :, :-1] |= out[:, :, 1:]
        out = grown
    return out
