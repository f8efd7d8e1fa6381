"""Tensor fit: equality with dipy, colour FA, phantom accuracy."""

import warnings

import numpy as np
import pytest

from imaging.dti import fit_dti, make_gradient_table, make_phantom, stream_dwi
from imaging.dti.gradients import B0_THRESHOLD, read_bvals, read_bvecs
from imaging.dti.tensor import color_fa, design_matrix, eig_tensor

DIPY_TOL = 1e-6  # max |FA ours - FA dipy| (FA is dimensionless)


def _dipy_fit(data, bval_path, bvec_path, mask, method):
    from dipy.core.gradients import gradient_table
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.reconst.dti import TensorModel

    b, v = read_bvals_bvecs(str(bval_path), str(bvec_path))
    gtab = gradient_table(b, bvecs=v)  # dipy's own reading of the same files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TensorModel(gtab, fit_method=method).fit(data, mask=mask)


@pytest.mark.parametrize("name", ["small_64D", "small_101D", "small_25"])
@pytest.mark.parametrize("method", ["WLS", "OLS"])
def test_equals_dipy_on_shipped_scans(name, method):
    from dipy.data import get_fnames

    dwi, bval, bvec = get_fnames(name=name)
    data = stream_dwi(dwi, keep_data=True).data
    bvals = read_bvals(bval)
    bvecs = read_bvecs(bvec, data.shape[-1])
    mask = data[..., bvals <= B0_THRESHOLD].mean(-1) > 0  # same mask for both
    ours = fit_dti(data, make_gradient_table(bvals, bvecs), mask, method)
    ref = _dipy_fit(data, bval, bvec, mask, method)
    assert mask.sum() >= 150
    fa_diff = np.abs(ours.fa - ref.fa)[mask].max()
    assert fa_diff <= DIPY_TOL, fa_diff
    md_rel = (np.abs(ours.md - ref.md) / np.abs(ref.md).max())[mask].max()
    assert md_rel <= 1e-5, md_rel  # MD in mm^2/s, relative to the largest MD
    # principal direction agrees wherever it is well defined (FA > 0.2)
    well = mask & (ref.fa > 0.2)
    if well.any():
        dots = np.abs(np.sum(ours.evec1[well] * ref.evecs[well][..., 0], axis=-1))
        assert dots.min() >= 1 - 1e-5


def test_equals_dipy_on_phantom_wls():
    p = make_phantom((32, 32, 20), n_b0=1, n_dirs=20, snr=20, seed=5)
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import TensorModel

    gt = make_gradient_table(p.bvals, p.bvecs)
    ours = fit_dti(p.data, gt, p.brain_mask, "WLS", chunk_size=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = TensorModel(gradient_table(p.bvals, bvecs=p.bvecs), fit_method="WLS").fit(p.data, mask=p.brain_mask)
    assert np.abs(ours.fa - ref.fa)[p.brain_mask].max() <= DIPY_TOL
    # the chunked, threaded fit does not depend on the chunk size
    ours2 = fit_dti(p.data, gt, p.brain_mask, "WLS", chunk_size=4096, n_threads=1)
    assert np.array_equal(ours.fa, ours2.fa)


def test_design_matrix_equals_dipy():
    from dipy.core.gradients import gradient_table
    from dipy.reconst.dti import design_matrix as dipy_dm

    p = make_phantom((16, 16, 16), n_b0=2, n_dirs=15, snr=np.inf)
    gt = make_gradient_table(p.bvals, p.bvecs)
    dipy_gt = gradient_table(p.bvals, bvecs=p.bvecs)
    assert np.array_equal(gt.b0s_mask, dipy_gt.b0s_mask)
    assert np.array_equal(gt.gradients, dipy_gt.gradients)
    assert np.array_equal(design_matrix(gt), dipy_dm(dipy_gt))


def test_eigen_closed_form_matches_eigh():
    rng = np.random.default_rng(0)
    n = 2000
    A = rng.normal(size=(n, 3, 3)) * 1e-3
    D = A @ np.transpose(A, (0, 2, 1)) + 1e-4 * np.eye(3)
    D[:5] = np.diag([1.7e-3, 3e-4, 3e-4])  # exactly cylindrical
    D[5:10] = 8e-4 * np.eye(3)  # exactly isotropic
    lt = np.stack([D[:, 0, 0], D[:, 0, 1], D[:, 1, 1], D[:, 0, 2], D[:, 1, 2], D[:, 2, 2]], 1)
    ev, v1, bad = eig_tensor(lt)
    w, V = np.linalg.eigh(D)
    # relative to the largest eigenvalue: <= 1e-8 (exactly repeated eigenvalues
    # lose half the digits in arccos; still ~1e-8 in FA terms at worst)
    rel = np.abs(ev - w[:, ::-1]) / w[:, 2:]
    assert rel.max() <= 1e-7
    generic = np.ones(n, bool)
    generic[:10] = False
    assert rel[generic].max() <= 1e-9
    assert not bad.any()
    distinct = (w[:, 2] - w[:, 1]) > 1e-5
    dots = np.abs(np.einsum("ni,ni->n", v1[distinct], V[distinct, :, 2]))
    assert dots.min() >= 1 - 1e-9


def _single_tensor_signal(axis, fa=0.8, md=0.8e-3, n_dirs=30, s0=1000.0):
    from imaging.dti.phantom import cylindrical_evals, fibonacci_hemisphere

    bvecs = np.vstack([[0, 0, 0], fibonacci_hemisphere(n_dirs)])
    bvals = np.r_[0.0, np.full(n_dirs, 1000.0)]
    ev = cylindrical_evals(fa, md)
    e1 = np.eye(3)[axis]
    D = ev[1] * np.eye(3) + (ev[0] - ev[1]) * np.outer(e1, e1)
    sig = s0 * np.exp(-bvals * np.einsum("ni,ij,nj->n", bvecs, D, bvecs))
    return sig, bvals, bvecs


@pytest.mark.parametrize("axis,channel", [(0, "red"), (1, "green"), (2, "blue")])
def test_color_fa_axis_colours(axis, channel):
    sig, bvals, bvecs = _single_tensor_signal(axis)
    data = np.tile(sig.astype(np.float32), (3, 3, 3, 1))
    maps = fit_dti(data, make_gradient_table(bvals, bvecs))
    rgb = maps.color_fa[1, 1, 1]
    assert maps.color_fa.shape == (3, 3, 3, 3) and maps.color_fa.dtype == np.float32
    assert abs(maps.fa[1, 1, 1] - 0.8) <= 1e-4  # noise-free: exact FA
    assert abs(rgb[axis] - 0.8) <= 1e-4  # FA x |e1| along the tensor's axis
    others = [c for c in range(3) if c != axis]
    assert np.all(rgb[others] <= 1e-4)
    assert ["red", "green", "blue"][int(np.argmax(rgb))] == channel


def test_color_fa_function():
    fa = np.array([0.5, 1.4, -0.1])
    ev = np.array([[0, 0.6, -0.8], [1, 0, 0], [0, 1, 0]])
    rgb = color_fa(fa, ev)
    assert np.allclose(rgb, [[0, 0.3, 0.4], [1, 0, 0], [0, 0, 0]], atol=1e-7)


def test_phantom_fa_per_region_within_002():
    """Known tensors, FA 0.1..0.9 along x, y, z, Rician noise SNR 30."""
    p = make_phantom((64, 64, 30), n_b0=2, n_dirs=64, snr=30.0, seed=11)
    maps = fit_dti(p.data, make_gradient_table(p.bvals, p.bvecs), p.brain_mask, "WLS")
    tracts = [k for k in p.true_fa if k >= 3]
    assert len(tracts) == 15
    assert sorted({round(p.true_fa[k], 2) for k in tracts}) == [0.1, 0.3, 0.5, 0.7, 0.9]
    for k in tracts:
        sel = p.labels == k
        assert sel.sum() >= 100
        fa = float(maps.fa[sel].mean())
        assert abs(fa - p.true_fa[k]) <= 0.02, (p.label_names[k], fa, p.true_fa[k])
        md = float(maps.md[sel].mean())
        assert abs(md - p.true_md[k]) <= 0.03 * p.true_md[k]  # MD within 3 %
        if p.true_fa[k] >= 0.3:  # orientation: the right colour dominates
            axis = "xyz".index(p.true_axis[k])
            rgb = maps.color_fa[sel].mean(axis=0)
            assert int(np.argmax(rgb)) == axis


def test_phantom_fa_boost():
    base = make_phantom((32, 32, 20), snr=np.inf)
    boosted = make_phantom((32, 32, 20), snr=np.inf, fa_boost=0.05)
    for k in base.true_fa:
        if k >= 3:
            assert boosted.true_fa[k] == pytest.approx(min(base.true_fa[k] + 0.05, 0.95), abs=1e-9)
        else:
            assert boosted.true_fa[k] == base.true_fa[k]
    maps = fit_dti(boosted.data, make_gradient_table(boosted.bvals, boosted.bvecs), boosted.brain_mask)
    for k in boosted.true_fa:  # noise-free: FA exact to 1e-4
        assert abs(maps.fa[boosted.labels == k].mean() - boosted.true_fa[k]) <= 1e-4


def test_phantom_layout():
    p = make_phantom((96, 96, 60), snr=30)
    frac = p.brain_mask.mean()
    assert 0.40 <= frac <= 0.55  # ~half the voxels are brain
    assert p.data.shape == (96, 96, 60, 33) and p.data.dtype == np.float32
    assert np.allclose(np.linalg.norm(p.bvecs[1:], axis=1), 1)
    bg = p.data[~p.brain_mask, 0]
    assert abs(bg.mean() / np.sqrt(np.pi / 2) - p.sigma) <= 0.02 * p.sigma  # Rayleigh
    assert (p.labels > 0).sum() == p.brain_mask.sum()


def test_fit_memory_is_chunked():
    """The fit never holds a full copy of the data (float32 or float64)."""
    import tracemalloc

    p = make_phantom((64, 64, 48), n_b0=1, n_dirs=32, snr=30.0, seed=2)
    gt = make_gradient_table(p.bvals, p.bvecs)
    nvox = p.data.shape[0] * p.data.shape[1] * p.data.shape[2]
    outputs = nvox * (4 * 6 + 12 + 12 + 12 + 1)  # maps, evec, colour FA, flags
    tracemalloc.start()
    try:
        fit_dti(p.data, gt, p.brain_mask, "WLS", chunk_size=8192, n_threads=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # chunk temporaries: 2 threads x ~10 arrays of 8192 x 33 float64 (~2.2 MB)
    assert peak <= outputs + 60e6, peak
    assert peak < outputs + 0.75 * p.data.nbytes  # data is 25 MB here
