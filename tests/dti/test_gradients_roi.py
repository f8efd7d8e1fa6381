"""b-vector layouts, gradient table, region statistics."""

import numpy as np
import pytest

from imaging.dti import make_gradient_table, read_bvals, read_bvecs, region_stats
from imaging.dti.gradients import clean_bvecs, count_directions, parse_bvecs, shells
from imaging.dti.phantom import fibonacci_hemisphere


@pytest.mark.parametrize("n_dirs", [3 + 4, 30])
def test_bvec_layouts_same_table(tmp_path, n_dirs, write_bval, write_bvec):
    bvals = np.r_[0.0, np.full(n_dirs, 1000.0)]
    bvecs = np.vstack([[0, 0, 0], fibonacci_hemisphere(n_dirs)])
    write_bval(tmp_path / "b.bval", bvals)
    rows = write_bvec(tmp_path / "rows.bvec", bvecs, "rows")  # FSL 3 x N
    cols = write_bvec(tmp_path / "cols.bvec", bvecs, "columns")  # N x 3
    a = read_bvecs(rows, n_volumes=bvals.size)
    b = read_bvecs(cols, n_volumes=bvals.size)
    assert a.shape == b.shape == (bvals.size, 3)
    assert np.array_equal(a, b)
    assert np.abs(a - bvecs).max() <= 1e-6  # written with 6 decimals
    ga = make_gradient_table(read_bvals(tmp_path / "b.bval"), a)
    gb = make_gradient_table(read_bvals(tmp_path / "b.bval"), b)
    assert np.array_equal(ga.bvecs, gb.bvecs)
    assert np.array_equal(ga.bvals, gb.bvals)
    assert np.array_equal(ga.b0s_mask, gb.b0s_mask)


def test_bvec_3x3_ambiguity_and_nan_b0():
    text = "nan 1 0\nnan 0 1\nnan 0 0\n"  # FSL layout, 3 volumes
    v = parse_bvecs(text)
    assert v.shape == (3, 3) and np.isnan(v[0]).all()
    assert np.array_equal(clean_bvecs([0, 1000, 1000], v)[0], [0, 0, 0])


def test_clean_bvecs_renormalises_only_clearly_non_unit():
    bvals = np.array([0, 1000, 1000, 1000.0])
    v = np.array([[0, 0, 0], [0.97, 0, 0], [0, 1.0000004, 0], [0, 0, 1]])
    c = clean_bvecs(bvals, v)
    assert c[1, 0] == 1.0  # 3 % short: rescaled
    assert c[2, 1] == 1.0000004  # within 1e-3 of unit: kept bit-for-bit (dipy)


def test_count_directions_and_shells():
    g = fibonacci_hemisphere(10)
    bvals = np.r_[0, 5, np.full(10, 1000.0), np.full(10, 2000.0)]
    bvecs = np.vstack([[0, 0, 0], [1, 0, 0], g, -g])  # second shell: same axes
    assert count_directions(bvals, bvecs) == 10
    assert shells(bvals) == [(0.0, 2), (1000.0, 10), (2000.0, 10)]


def test_region_stats_by_hand():
    rng = np.random.default_rng(4)
    shape = (9, 8, 7)
    labels = rng.integers(0, 4, size=shape)
    labels[0, 0, 0] = 7  # single-voxel label
    fa = rng.random(shape).astype(np.float32)
    md = (rng.random(shape) * 1e-3).astype(np.float32)
    mask = rng.random(shape) > 0.2
    mask[0, 0, 0] = True
    names = {1: "CST left", 2: "CST right", 9: "absent"}
    stats = region_stats(labels, fa, md, mask=mask, label_names=names)
    by = {s["label"]: s for s in stats}
    assert sorted(by) == [1, 2, 3, 7, 9]
    for k in (1, 2, 3):
        sel = (labels == k) & mask
        f = fa[sel].astype(np.float64)
        m = md[sel].astype(np.float64)
        s = by[k]
        assert s["voxels"] == int(sel.sum())
        assert s["fa_mean"] == pytest.approx(f.mean(), abs=1e-12)
        assert s["fa_sd"] == pytest.approx(f.std(ddof=1), abs=1e-12)
        assert s["fa_median"] == pytest.approx(np.median(f), abs=1e-12)
        assert s["md_mean"] == pytest.approx(m.mean(), abs=1e-15)
        assert s["md_sd"] == pytest.approx(m.std(ddof=1), abs=1e-15)
        assert s["md_median"] == pytest.approx(np.median(m), abs=1e-15)
    assert by[1]["name"] == "CST left" and by[3]["name"] == "label 3"
    assert by[7]["voxels"] == 1 and by[7]["fa_sd"] is None
    assert by[7]["fa_mean"] == pytest.approx(float(fa[0, 0, 0]), abs=1e-7)
    assert by[9]["voxels"] == 0 and by[9]["fa_mean"] is None
    # without a mask every labelled voxel counts
    nomask = {s["label"]: s for s in region_stats(labels, fa, md)}
    assert nomask[2]["voxels"] == int((labels == 2).sum())
