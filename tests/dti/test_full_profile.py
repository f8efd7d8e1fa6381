"""The ``full`` profile: MP-PCA, Gibbs, motion correction with b-vector rotation."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial.transform import Rotation

from imaging.dti import PipelineSettings, make_phantom, run_pipeline
from imaging.dti.gradients import read_bvecs

SHIFT_VOL, SHIFT_VOX = 5, 2  # volume 5 moved +2 voxels (4 mm) along x
ROT_VOL, ROT_DEG = 8, 6.0  # volume 8 rotated 6 degrees about x (image centre)


@pytest.fixture(scope="module")
def moved_phantom(tmp_path_factory):
    p = make_phantom((32, 32, 20), n_b0=1, n_dirs=12, snr=30.0, seed=1)
    d = p.data
    d[..., SHIFT_VOL] = ndi.shift(d[..., SHIFT_VOL], (SHIFT_VOX, 0, 0), order=1)
    R = Rotation.from_euler("x", ROT_DEG, degrees=True).as_matrix()
    c = (np.array(d.shape[:3]) - 1) / 2.0
    # content rotated by R about the centre: out(x) = in(R^T (x - c) + c)
    d[..., ROT_VOL] = ndi.affine_transform(d[..., ROT_VOL], R.T, offset=c - R.T @ c, order=1)
    files = p.save(str(tmp_path_factory.mktemp("moved")), dtype=np.float32)
    return p, files, R


def test_full_profile_motion_and_bvec_rotation(moved_phantom, tmp_path):
    p, f, R = moved_phantom
    stages = []
    res = run_pipeline(
        f["dwi"],
        f["bval"],
        f["bvec"],
        tmp_path / "full",
        PipelineSettings(profile="full"),
        progress=lambda s, pc: stages.append(s),
    )
    for st in ("denoise", "gibbs", "motion", "fit", "done"):
        assert st in stages
    items = res.qc["items"]
    motion = items["motion"]["value"]
    per = motion["per_volume"]
    assert len(per) == p.bvals.size
    # shifted volume: +4 mm along x, detected within 0.75 mm
    t = np.array(per[SHIFT_VOL]["translation_mm"])
    print("shift volume translation (mm):", t, "rotated volume:", per[ROT_VOL]["rotation_deg"])
    assert abs(t[0] - SHIFT_VOX * 2.0) <= 0.75, t
    assert np.abs(t[1:]).max() <= 0.5
    # rotated volume: 6 degrees about x, detected within 1 degree
    r = np.array(per[ROT_VOL]["rotation_deg"])
    assert abs(r[0] - ROT_DEG) <= 1.0, r
    assert abs(per[ROT_VOL]["rotation_angle_deg"] - ROT_DEG) <= 1.0
    # all other volumes: no motion (< 0.5 mm, < 0.5 degree)
    for v in per:
        if v["volume"] not in (SHIFT_VOL, ROT_VOL):
            assert v["translation_norm_mm"] <= 0.5 and v["rotation_angle_deg"] <= 0.5, v
    assert motion["max_translation_mm"] == pytest.approx(max(v["translation_norm_mm"] for v in per))
    assert motion["mean_rotation_deg"] == pytest.approx(np.mean([v["rotation_angle_deg"] for v in per]))
    assert items["motion"]["flag"] == "warn"  # 4 mm > 2 mm limit
    assert "noise_sigma_mppca" in items
    # b-vectors: volume 8 rotated by R^T (angle error <= 1.5 degrees), others ~same
    rot = read_bvecs(res.maps["bvecs_rotated"], p.bvals.size)
    expected = R.T @ p.bvecs[ROT_VOL]
    ang = np.degrees(np.arccos(min(1.0, abs(rot[ROT_VOL] @ expected))))
    print("b-vector angle error (deg):", ang)
    assert ang <= 1.5, ang
    moved = np.degrees(np.arccos(min(1.0, abs(rot[ROT_VOL] @ p.bvecs[ROT_VOL]))))
    assert moved >= 3.0  # it really was rotated
    for k in range(1, p.bvals.size):
        if k != ROT_VOL:
            a = np.degrees(np.arccos(min(1.0, abs(rot[k] @ p.bvecs[k]))))
            assert a <= 0.5, (k, a)
    assert np.allclose(np.linalg.norm(rot[1:], axis=1), 1.0, atol=1e-6)
    # the fit still recovers the anisotropic regions after correction
    assert res.summary["wm_fa_mean"] is not None and res.summary["wm_fa_mean"] > 0.3
    assert res.provenance["parameters"]["profile"] == "full"
    assert len(res.provenance["bvecs_rotated"]) == p.bvals.size


# Volume -> (rotation about x, y, z in degrees, shift in voxels): motions a child makes in
# the scanner, each within the 0.2 mm / 0.2 degree the correction must reach.
KNOWN_MOTION = {
    3: ((4.0, -2.0, 1.0), (1.5, -2.0, 0.8)),
    6: ((-1.0, 3.0, -2.5), (-0.7, 1.2, 2.0)),
    9: ((0, 0, 0), (2.5, 0.5, 0)),
}


def test_motion_estimates_are_within_a_fifth_of_a_millimetre_and_degree():
    from imaging.dti.morphology import dilate
    from imaging.dti.preprocess import motion_correct

    p = make_phantom((40, 40, 24), n_b0=1, n_dirs=12, snr=30.0, seed=2)
    data = p.data.copy(order="F")
    c = (np.array(data.shape[:3]) - 1) / 2.0
    truth = {}
    for vol, (angles, shift) in KNOWN_MOTION.items():
        R = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
        shift = np.asarray(shift)
        # content rotated about the centre and shifted: out(y) = in(R^T (y - c - shift) + c)
        data[..., vol] = ndi.affine_transform(data[..., vol], R.T, offset=c - R.T @ (c + shift), order=1)
        truth[vol] = (R, 2.0 * shift)  # voxels of 2 mm
    _, bvecs, motion = motion_correct(
        data, p.bvals, p.bvecs, (2.0, 2.0, 2.0), static_mask=dilate(p.brain_mask, 2), n_threads=2
    )
    for k, A in enumerate(np.asarray(motion["affines"])):
        R, t = truth.get(k, (np.eye(3), np.zeros(3)))
        t_err = np.linalg.norm(A[:3, 3] - t)
        r_err = np.degrees(np.linalg.norm(Rotation.from_matrix(A[:3, :3] @ R.T).as_rotvec()))
        assert t_err <= 0.2 and r_err <= 0.2, (k, t_err, r_err)
        if k in truth:  # b-vectors turned with the head: R^T g
            expected = R.T @ p.bvecs[k]
            assert np.degrees(np.arccos(min(1.0, abs(bvecs[k] @ expected)))) <= 0.2
