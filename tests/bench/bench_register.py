"""Benchmark of carrying regions: the time registration adds per scan.

Run:  python tests/bench/bench_register.py [--shape X Y Z] [--repeats N]

Not a pytest test. On a 96x96x60 phantom (2 mm voxels, 1 b0 + 32 directions, SNR 30, the size of
the demo scans) it fits a baseline and a follow-up (other noise, head turned 4 and 3 degrees and
shifted 3.9 mm), then times what the carry task adds to a processed scan: imaging.dti.register_fa
with the default settings (centre of mass, translation, rigid, affine; SyN kept if it helps) and
carry_labels, and reports the similarity and how far the found transform is from the true one.
"""

import argparse
import os
import sys
import time

import numpy as np
from scipy import ndimage

# `make bench` runs this file from the checkout without PYTHONPATH: the project's packages are beside tests/.
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from imaging.dti import carry_labels, fit_dti, make_phantom, register_fa  # noqa: E402
from imaging.dti.gradients import make_gradient_table  # noqa: E402


def rotation(axis, degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    matrix = np.eye(4)
    matrix[i, i] = matrix[j, j] = c
    matrix[i, j], matrix[j, i] = -s, s
    return matrix


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", type=int, nargs=3, default=(96, 96, 60))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shape = tuple(args.shape)
    baseline = make_phantom(shape, n_dirs=32, snr=30, seed=0)
    follow = make_phantom(shape, n_dirs=32, snr=30, seed=1, fa_boost=0.03)
    gtab = make_gradient_table(baseline.bvals, baseline.bvecs)
    base_fa = fit_dti(baseline.data, gtab, baseline.brain_mask).fa
    follow_fa = fit_dti(follow.data, gtab, baseline.brain_mask).fa
    motion = rotation(2, 4.0) @ rotation(0, 3.0)
    motion[:3, 3] = [3.0, -2.0, 1.5]
    affine = baseline.affine
    to_source = np.linalg.inv(affine) @ np.linalg.inv(motion) @ affine
    moved = ndimage.affine_transform(follow_fa, to_source[:3, :3], to_source[:3, 3], order=0)
    mask = ndimage.affine_transform(baseline.brain_mask.astype(np.uint8), to_source[:3, :3], to_source[:3, 3], order=0)
    corners = np.array([[x, y, z, 1.0] for x in (-30, 30) for y in (-30, 30) for z in (-30, 30)]).T
    for run in range(args.repeats):
        started = time.perf_counter()
        found = register_fa(moved, affine, base_fa, affine, static_mask=mask > 0)
        carry_labels(baseline.labels, found)
        seconds = time.perf_counter() - started
        error = np.linalg.norm((found.affine - np.linalg.inv(motion)) @ corners, axis=0).max()
        print(
            f"run {run + 1}: {seconds:.1f} s  similarity {found.similarity:.3f} (affine {found.similarity_affine:.3f})"
            f"  SyN kept: {found.syn is not None}  max affine error at 30 mm: {error:.2f} mm"
        )


if __name__ == "__main__":
    main()
