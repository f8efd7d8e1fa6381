"""Regions drawn once are carried to another scan of the same child: label images resampled through
the affines, and a follow-up moved by a known rigid transform registered back to its baseline."""

import numpy as np
import pytest
from scipy import ndimage

from imaging.dti import fit_dti, make_phantom
from imaging.dti.gradients import make_gradient_table
from imaging.dti.register import RegistrationSettings, carry_labels, register_fa, resample_labels, similarity
from imaging.dti.roi import region_stats

SHAPE = (48, 48, 28)
# Tracts of the phantom (labels) and the FA added to them at follow-up: two raised, two unchanged.
BOOST = {5: 0.05, 11: 0.10, 7: 0.0, 15: 0.0}
FAST = RegistrationSettings(level_iters=(100, 30, 10), syn_level_iters=(10, 5))


def rotation(axis, degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    matrix = np.eye(4)
    matrix[i, i] = matrix[j, j] = c
    matrix[i, j], matrix[j, i] = -s, s
    return matrix


def moved(image, affine, head_motion):
    """`image` as the scanner would see it after the head moved by `head_motion` (world mm, 4x4):
    voxel v shows what was at inv(motion) of its centre; nearest neighbour, so values stay exact."""
    to_source = np.linalg.inv(affine) @ np.linalg.inv(head_motion) @ affine
    return ndimage.affine_transform(image, to_source[:3, :3], to_source[:3, 3], order=0)


@pytest.fixture(scope="module")
def pair():
    """Baseline and follow-up of one phantom child: the follow-up has other noise, FA raised by
    BOOST in two tracts, and the head turned 4 degrees about z and 3 about x and shifted (3, -2, 1.5) mm."""
    baseline = make_phantom(SHAPE, n_dirs=20, snr=30, seed=0)
    follow = make_phantom(SHAPE, n_dirs=20, snr=30, seed=1)
    for label, boost in BOOST.items():
        if boost:
            raised = make_phantom(SHAPE, n_dirs=20, snr=30, seed=1, fa_boost=boost)
            inside = baseline.labels == label
            follow.data[inside] = raised.data[inside]
    gtab = make_gradient_table(baseline.bvals, baseline.bvecs)
    base_maps = fit_dti(baseline.data, gtab, baseline.brain_mask)
    follow_maps = fit_dti(follow.data, gtab, baseline.brain_mask)
    motion = rotation(2, 4.0) @ rotation(0, 3.0)
    motion[:3, 3] = [3.0, -2.0, 1.5]
    affine = baseline.affine
    drawn = np.where(np.isin(baseline.labels, list(BOOST)), baseline.labels, 0).astype(np.int32)
    return {
        "affine": affine,
        "motion": motion,
        "drawn": drawn,
        "true_fa": {label: baseline.true_fa[label] for label in BOOST},
        "base": (base_maps.fa, base_maps.md, baseline.brain_mask),
        "follow": (
            moved(follow_maps.fa, affine, motion),
            moved(follow_maps.md, affine, motion),
            moved(baseline.brain_mask.astype(np.uint8), affine, motion) > 0,
        ),
    }


@pytest.fixture(scope="module")
def registration(pair):
    follow_fa, _md, follow_mask = pair["follow"]
    base_fa, affine = pair["base"][0], pair["affine"]
    return register_fa(follow_fa, affine, base_fa, affine, static_mask=follow_mask, settings=FAST)


def fa_by_label(labels, fa, md, mask):
    return {row["label"]: row["fa_mean"] for row in region_stats(labels, fa, md, mask=mask)}


def test_the_found_transform_undoes_the_head_motion_within_half_a_voxel(pair, registration):
    # The affine maps follow-up world points to baseline world points: inv(motion). Checked at the
    # corners of a 60 mm cube around the centre, where rotation errors show most.
    corners = np.array([[x, y, z, 1.0] for x in (-30, 30) for y in (-30, 30) for z in (-30, 30)]).T
    error_mm = np.linalg.norm((registration.affine - np.linalg.inv(pair["motion"])) @ corners, axis=0)
    assert error_mm.max() < 1.0  # voxels are 2 mm


def test_carried_regions_give_each_regions_fa_and_the_change(pair, registration):
    carried = carry_labels(pair["drawn"], registration)
    baseline = fa_by_label(pair["drawn"], *pair["base"])
    follow = fa_by_label(carried, *pair["follow"])

    for label, boost in BOOST.items():
        truth = pair["true_fa"][label] + boost
        assert follow[label] == pytest.approx(truth, abs=0.03), label
        assert follow[label] - baseline[label] == pytest.approx(boost, abs=0.02), label


def test_carried_regions_land_on_the_moved_regions(pair, registration):
    carried = carry_labels(pair["drawn"], registration)
    truth = np.rint(moved(pair["drawn"].astype(float), pair["affine"], pair["motion"])).astype(int)
    for label in BOOST:
        overlap = np.sum((carried == label) & (truth == label)) / np.sum(truth == label)
        assert overlap >= 0.9, label


def test_the_similarity_figure_tells_a_registered_pair_from_an_unregistered_one(pair, registration):
    follow_fa, _md, follow_mask = pair["follow"]
    assert registration.similarity > 0.85
    assert similarity(follow_fa, pair["base"][0], follow_mask) < registration.similarity - 0.2
    provenance = registration.provenance()
    assert provenance["similarity"] == round(registration.similarity, 4)
    assert np.allclose(provenance["affine"], registration.affine, atol=1e-5)


def test_syn_is_kept_only_when_it_improves_the_similarity(pair, registration):
    assert registration.similarity >= registration.similarity_affine
    assert (registration.syn is not None) == (registration.similarity > registration.similarity_affine)


def test_labels_drawn_on_a_grid_twice_as_fine_land_on_the_right_voxels():
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 4, size=(10, 12, 8)).astype(np.int32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-9.0, -11.0, -7.0]
    fine = np.repeat(np.repeat(np.repeat(coarse, 2, 0), 2, 1), 2, 2)
    # Fine voxel centres sit 0.5 mm either side of the coarse centre they split.
    fine_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    fine_affine[:3, 3] = affine[:3, 3] - 0.5

    assert np.array_equal(resample_labels(fine, fine_affine, coarse.shape, affine), coarse)


def test_labels_in_another_orientation_and_field_of_view_are_resampled_through_the_affines():
    labels = np.zeros((10, 12, 8), np.int32)
    labels[2:5, 3:7, 1:4] = 3
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    # The same labels stored flipped in x (radiological order) with two more slices of padding in z.
    flipped = np.zeros((10, 12, 10), np.int32)
    flipped[:, :, 2:] = labels[::-1]
    flipped_affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    flipped_affine[:3, 3] = [18.0, 0.0, -4.0]

    resampled = resample_labels(flipped, flipped_affine, labels.shape, affine)

    assert np.array_equal(resampled, labels)


def test_a_label_file_at_twice_the_resolution_is_read_onto_the_scan_grid(tmp_path, write_nifti):
    from imaging.dti.io import load_labels

    coarse = np.zeros((8, 8, 6), np.int32)
    coarse[2:4, 3:6, 1:3] = 4
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    fine_affine = np.eye(4)
    fine_affine[:3, 3] = -0.5
    fine = np.repeat(np.repeat(np.repeat(coarse, 2, 0), 2, 1), 2, 2).astype(np.int16)
    path = write_nifti(tmp_path / "fine.nii.gz", fine, fine_affine)

    assert np.array_equal(load_labels(path, coarse.shape, affine), coarse)


def test_a_label_file_that_does_not_overlap_the_scan_is_refused_by_saying_so(tmp_path, write_nifti):
    from imaging.dti.errors import DiffusionInputError
    from imaging.dti.io import load_labels

    far = np.eye(4)
    far[:3, 3] = 500.0
    path = write_nifti(tmp_path / "far.nii.gz", np.ones((4, 4, 4), np.int16), far)

    with pytest.raises(DiffusionInputError, match="no label of the label image falls on the diffusion image"):
        load_labels(path, (8, 8, 6), np.diag([2.0, 2.0, 2.0, 1.0]))


def test_region_stats_give_ad_and_rd_when_the_maps_are_given():
    labels = np.array([[[1, 1, 2, 0]]])
    fa = np.array([[[0.2, 0.4, 0.6, 0.9]]])
    md = np.full(labels.shape, 8e-4)
    ad = np.array([[[1e-3, 2e-3, 3e-3, 9e-3]]])
    rd = np.array([[[5e-4, 7e-4, 6e-4, 1e-4]]])

    rows = {row["label"]: row for row in region_stats(labels, fa, md, ad=ad, rd=rd)}

    assert rows[1]["ad_mean"] == pytest.approx(1.5e-3) and rows[1]["rd_mean"] == pytest.approx(6e-4)
    assert rows[2]["ad_mean"] == pytest.approx(3e-3) and rows[2]["rd_mean"] == pytest.approx(6e-4)
    assert region_stats(labels, fa, md)[0]["ad_mean"] is None
