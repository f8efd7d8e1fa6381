"""Regions carried on real scans: dipy's bundled brain images (shipped inside the dipy package, read
offline), each moved by a known rigid transform and registered back; the carried regions land within
one voxel of where the transform puts them.

Two of dipy's files: ``small_64D`` (a real diffusion series cropped to 10 × 10 × 10 voxels of 2 mm,
64 directions at b=1000), registered by its FA as the registry does; and ``aniso_vox`` (a real brain
volume of 58 × 58 × 24 voxels of 4 × 4 × 5 mm, the one dipy's reslicing example uses), registered as a
b0 map. Run with ``-s`` to print the figures.
"""

import time

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from imaging.dti import fit_dti
from imaging.dti.gradients import make_gradient_table, read_bvals, read_bvecs
from imaging.dti.register import carry_labels, register_fa, syn_radius

dipy_data = pytest.importorskip("dipy.data")


def rotation(axis, degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    matrix = np.eye(4)
    matrix[i, i] = matrix[j, j] = c
    matrix[i, j], matrix[j, i] = -s, s
    return matrix


def head_motion(affine, shape):
    """A rigid motion in world mm: 5 degrees about z and 3 about x around the image's centre, then a
    shift of (3, -2, 1.5) mm."""
    centre = (affine @ np.r_[(np.asarray(shape[:3]) - 1) / 2.0, 1.0])[:3]
    to_centre, back = np.eye(4), np.eye(4)
    to_centre[:3, 3], back[:3, 3] = -centre, centre
    motion = back @ rotation(2, 5.0) @ rotation(0, 3.0) @ to_centre
    motion[:3, 3] += [3.0, -2.0, 1.5]
    return motion


def moved(image, affine, motion, order):
    """`image` as the scanner sees it after the head moved by `motion`: voxel v shows what was at
    inv(motion) of its centre (order 1: linear, a real rescan's resampling; order 0 for labels)."""
    to_source = np.linalg.inv(affine) @ np.linalg.inv(motion) @ affine
    return ndimage.affine_transform(image, to_source[:3, :3], to_source[:3, 3], order=order, mode="constant")


def two_regions(shape):
    """Two box-shaped regions drawn on the scan, in the middle half of the field of view."""
    labels = np.zeros(shape, np.int32)
    q = np.asarray(shape) // 4
    labels[q[0] : 2 * q[0], q[1] : 2 * q[1], q[2] : 3 * q[2]] = 1
    labels[2 * q[0] : 3 * q[0] + 1, 2 * q[1] : 3 * q[1] + 1, q[2] : 3 * q[2]] = 2
    return labels


def landing(carried, truth):
    """Per label: (Dice, distance between the centroids in voxels) of the carried and true regions."""
    found = {}
    for label in (1, 2):
        a, b = carried == label, truth == label
        dice = 2.0 * (a & b).sum() / (a.sum() + b.sum())
        distance = np.linalg.norm(np.argwhere(a).mean(axis=0) - np.argwhere(b).mean(axis=0))
        found[label] = (float(dice), float(distance))
    return found


def carry_through_motion(static_image, moving_image, affine, labels, truth, mask, name):
    """Register the moved image to the one the regions were drawn on, carry them, report the figures."""
    started = time.perf_counter()
    registration = register_fa(moving_image, affine, static_image, affine, static_mask=mask)
    seconds = time.perf_counter() - started
    found = landing(carry_labels(labels, registration), truth)
    print(
        f"\n{name}: registration {seconds:.2f} s ({registration.provenance()['method']}), "
        f"similarity {registration.similarity:.3f}; "
        + "; ".join(f"region {label}: Dice {d:.3f}, centroid {c:.2f} voxel" for label, (d, c) in found.items())
    )
    return found


def test_regions_carried_on_dipy_s_small_64d_diffusion_series_by_its_fa_land_within_one_voxel():
    dwi, bval, bvec = dipy_data.get_fnames(name="small_64D")
    image = nib.load(dwi)
    data, affine = np.asarray(image.dataobj, np.float64), image.affine
    gtab = make_gradient_table(read_bvals(bval), read_bvecs(bvec))
    everywhere = np.ones(data.shape[:3], bool)
    fa = np.nan_to_num(fit_dti(data, gtab, everywhere).fa)
    motion = head_motion(affine, data.shape)
    rescan = np.stack([moved(data[..., v], affine, motion, 1) for v in range(data.shape[-1])], axis=-1)
    moved_fa = np.nan_to_num(fit_dti(rescan, gtab, everywhere).fa)
    labels = two_regions(fa.shape)
    truth = moved(labels, affine, motion, 0)

    found = carry_through_motion(fa, moved_fa, affine, labels, truth, moved_fa > 0.05, "small_64D FA")

    for label, (dice, distance) in found.items():
        assert distance < 1.0, label
        assert dice > 0.8, label


def test_regions_carried_on_dipy_s_aniso_vox_brain_as_a_b0_map_land_within_one_voxel():
    image = nib.load(dipy_data.get_fnames(name="aniso_vox"))
    b0, affine = np.asarray(image.dataobj, np.float64), image.affine
    motion = head_motion(affine, b0.shape)
    rescan = moved(b0, affine, motion, 1)
    labels = two_regions(b0.shape)
    truth = moved(labels, affine, motion, 0)

    found = carry_through_motion(b0, rescan, affine, labels, truth, rescan > 0.1 * rescan.max(), "aniso_vox b0")

    for label, (dice, distance) in found.items():
        assert distance < 1.0, label
        assert dice > 0.95, label


def test_syn_works_on_a_smaller_neighbourhood_on_a_small_grid_and_not_at_all_on_a_tiny_one():
    assert syn_radius((96, 96, 60), 2) == 4
    assert syn_radius((10, 10, 10), 2) == 1  # small_64D: a 5-voxel coarsest level
    assert syn_radius((6, 6, 6), 2) is None
