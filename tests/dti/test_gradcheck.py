"""The gradient table check: on phantoms whose tracts curve (so every in-plane direction occurs), the
given table passes; the same data with an axis flipped or two axes swapped fail and name the axis;
axis-aligned tracts (where a flip changes no tensor) raise no false alarm."""

import numpy as np
import pytest

from imaging.dti.gradcheck import check_gradient_table
from imaging.dti.gradients import make_gradient_table
from imaging.dti.phantom import make_phantom, make_ring_phantom
from imaging.dti.pipeline import process_dwi
from imaging.dti.qc import gradient_table_qc_item
from imaging.dti.tensor import fit_dti

ZOOMS = (2.0, 2.0, 2.0)


@pytest.fixture(scope="module")
def rings():
    """Three rings, one in each plane, 48x48x32, 20 directions, SNR 30."""
    return make_ring_phantom((48, 48, 32), n_dirs=20, snr=30.0, seed=1)


def fit_with(phantom, transform):
    """The tensor fitted as if the file's b-vectors were ``transform @ g`` (a wrong table)."""
    bvecs = phantom.bvecs @ np.asarray(transform, float).T
    return fit_dti(phantom.data, make_gradient_table(phantom.bvals, bvecs), phantom.brain_mask)


def check(phantom, transform):
    maps = fit_with(phantom, transform)
    return check_gradient_table(maps.evec1, maps.fa, phantom.brain_mask, ZOOMS)


def flip(axis):
    m = np.eye(3)
    m[axis, axis] = -1.0
    return m


def test_the_given_table_passes_on_curved_tracts(rings):
    result = check(rings, np.eye(3))
    item = gradient_table_qc_item(result)
    assert not result.suspicious and result.table == "x y z"
    assert item["flag"] == "pass" and item["value"]["table"] == "x y z"


@pytest.mark.parametrize("axis, name", [(0, "x"), (1, "y"), (2, "z")])
def test_one_axis_flipped_fails_and_names_the_axis(rings, axis, name):
    result = check(rings, flip(axis))
    item = gradient_table_qc_item(result)
    assert result.suspicious and result.flip == axis and result.perm == (0, 1, 2)
    # the loss is far beyond the 5 % margin (15-20 % on this phantom)
    assert result.best > 1.10 * result.given
    assert item["flag"] == "fail"
    assert f"b-vectors look flipped in {name}" in item["message"]
    assert item["value"]["table"] == {"x": "-x y z", "y": "x -y z", "z": "x y -z"}[name]


@pytest.mark.parametrize("order, first, second", [((1, 0, 2), "x", "y"), ((0, 2, 1), "y", "z"), ((2, 1, 0), "x", "z")])
def test_two_axes_swapped_fail_and_are_named(rings, order, first, second):
    result = check(rings, np.eye(3)[list(order)])
    item = gradient_table_qc_item(result)
    assert result.suspicious and result.perm == order and result.flip is None
    assert item["flag"] == "fail" and f"b-vector axes {first} and {second} look swapped" in item["message"]
    assert "look flipped" not in item["message"]


def test_a_cyclic_permutation_fails_and_its_fix_undoes_it(rings):
    wrong = np.eye(3)[[1, 2, 0]]  # the file's x is the true y, ...
    result = check(rings, wrong)
    fix = np.zeros((3, 3))
    fix[np.arange(3), result.perm] = 1.0
    assert result.suspicious and "permuted" in gradient_table_qc_item(result)["message"]
    np.testing.assert_array_equal(fix @ wrong, np.eye(3))


def test_axis_aligned_tracts_raise_no_false_alarm_flipped_or_not():
    """In make_phantom every tract runs along x, y or z: a flip changes no tensor there, so no
    candidate may look better than the given table (the spread is noise, well inside the margin)."""
    boxes = make_phantom((48, 48, 32), n_dirs=20, snr=30.0, seed=2)
    for transform in (np.eye(3), flip(0)):
        result = check(boxes, transform)
        assert not result.suspicious and result.best < 1.02 * result.given


def test_the_directions_of_a_flipped_table_are_the_flipped_directions_without_a_second_fit(rings):
    """Why the check fits once: fitting with F g gives F D F, whose principal direction is F e."""
    given, flipped = fit_with(rings, np.eye(3)), fit_with(rings, flip(0))
    tract = rings.labels >= 3
    dots = np.abs(np.einsum("ij,ij->i", flipped.evec1[tract], given.evec1[tract] @ flip(0).T))
    assert np.quantile(dots, 0.01) > 0.999


def test_too_few_anisotropic_voxels_warns_and_does_not_fail():
    fa = np.zeros((10, 10, 10))
    result = check_gradient_table(np.zeros((10, 10, 10, 3)), fa, fa == 0, ZOOMS)
    item = gradient_table_qc_item(result)
    assert result is None and item["flag"] == "warn"


def test_it_finds_the_flip_on_a_full_size_96x96x60_scan():
    """Its speed is measured by the pipeline's benchmark (tests/bench/bench_dti.py), not here."""
    phantom = make_ring_phantom((96, 96, 60), n_dirs=32, snr=30.0, seed=3)
    maps = fit_with(phantom, flip(1))
    result = check_gradient_table(maps.evec1, maps.fa, phantom.brain_mask, ZOOMS)
    assert result.suspicious and result.flip == 1


@pytest.mark.parametrize("transform, flag", [(np.eye(3), "pass"), (flip(2), "fail")])
def test_every_processed_scan_gets_the_check(rings, transform, flag):
    result = process_dwi(rings.data, rings.bvals, rings.bvecs @ transform.T, zooms=ZOOMS)
    assert result.qc["items"]["gradient_table"]["flag"] == flag
    if flag == "fail":
        assert result.qc["overall"] == "fail" and "flipped in z" in result.qc["items"]["gradient_table"]["message"]
