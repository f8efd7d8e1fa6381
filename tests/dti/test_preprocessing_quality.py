"""MP-PCA denoising and Gibbs unringing against dipy's own implementations, on phantoms
with known truth (noise sigma, noise-free signal, ringing-free image)."""

import numpy as np
import pytest

from imaging.dti import make_phantom
from imaging.dti.gibbs import DIPY_SHIFTS, unring
from imaging.dti.mppca import mppca

SHAPE = (20, 20, 16)  # 2 b0 + 30 directions: 32 volumes, fewer than a 5^3 patch's 125 voxels


@pytest.fixture(scope="module")
def noisy_and_clean():
    noisy = make_phantom(SHAPE, n_b0=2, n_dirs=30, snr=15.0, seed=11)
    clean = make_phantom(SHAPE, n_b0=2, n_dirs=30, snr=np.inf, seed=11).data  # same layout, no noise
    return noisy, clean


@pytest.fixture(scope="module")
def dipy_mppca(noisy_and_clean):
    from dipy.denoise.localpca import mppca as dipy_mppca

    p, _ = noisy_and_clean
    with np.errstate(invalid="ignore", divide="ignore"):
        return dipy_mppca(p.data, mask=p.brain_mask, patch_radius=2, return_sigma=True, suppress_warning=True)


def test_mppca_with_every_patch_is_dipys(noisy_and_clean, dipy_mppca):
    p, _ = noisy_and_clean
    den, sigma = mppca(p.data, p.brain_mask, stride=1)
    ref_den, ref_sigma = dipy_mppca
    m = p.brain_mask
    assert np.abs(den - ref_den)[m].max() <= 1e-5 * ref_den[m].max()  # float32 rounding
    assert np.abs(sigma - ref_sigma)[m].max() <= 1e-5 * ref_sigma[m].max()


def test_mppca_on_the_patch_lattice_denoises_as_well_as_dipy(noisy_and_clean, dipy_mppca):
    """The pipeline's setting (patch centres every 2 voxels): the same noise level, and a
    residual against the noise-free signal within 10 % of dipy's (every voxel's patch)."""
    p, clean = noisy_and_clean
    den, sigma = mppca(p.data, p.brain_mask, n_threads=2)
    ref_den, ref_sigma = dipy_mppca
    m = p.brain_mask

    def rms(a):
        return float(np.sqrt(np.mean((a - clean)[m] ** 2)))

    assert np.median(sigma[m]) == pytest.approx(np.median(ref_sigma[m]), rel=0.03)
    assert np.median(sigma[m]) == pytest.approx(p.sigma, rel=0.10)  # Rician magnitude: a little low
    assert rms(den) <= 1.10 * rms(ref_den)
    assert rms(den) <= 0.3 * rms(p.data)  # it does denoise: noise RMS down by more than 3x


def test_unringing_with_dipys_shifts_is_dipys():
    from dipy.denoise.gibbs import gibbs_removal

    p = make_phantom((32, 24, 16), n_b0=1, n_dirs=6, snr=30.0, seed=12)
    ref = gibbs_removal(p.data.copy(), slice_axis=2, n_points=3, inplace=False)
    ours = unring(p.data, shifts=DIPY_SHIFTS, n_threads=2)
    assert np.abs(ours - ref).max() <= 1e-5 * ref.max()


def _ringing_phantom():
    """Noise-free piecewise-constant slices (the truth) and the same slices seen through
    k-space truncated to the central half of each in-plane axis (Gibbs ringing)."""
    sharp = make_phantom((96, 96, 16), n_b0=1, n_dirs=6, snr=np.inf).data[..., 0]
    k = np.fft.fftshift(np.fft.fft2(sharp, axes=(0, 1)), axes=(0, 1))
    keep = np.zeros(sharp.shape[:2], bool)
    keep[24:72, 24:72] = True
    k[~keep] = 0
    ringed = np.abs(np.fft.ifft2(np.fft.ifftshift(k, axes=(0, 1)), axes=(0, 1))).astype(np.float32)
    return sharp, ringed


def test_unringing_removes_ringing_as_well_as_dipy():
    """Ringing measured where it lives and blur does not: 2 to 8 voxels from an edge of the
    noise-free image; and the total variation of the whole image (ringing adds to it)."""
    from dipy.denoise.gibbs import gibbs_removal
    from scipy import ndimage as ndi

    sharp, ringed = _ringing_phantom()
    edges = (
        np.abs(np.diff(sharp, axis=0, prepend=sharp[:1])) + np.abs(np.diff(sharp, axis=1, prepend=sharp[:, :1]))
    ) > 0
    in_plane = np.ones((3, 3, 1), bool)
    band = ndi.binary_dilation(edges, iterations=8, structure=in_plane)
    band &= ~ndi.binary_dilation(edges, iterations=2, structure=in_plane)

    def ringing(img):
        return float(np.sqrt(np.mean((img - sharp)[band] ** 2)))

    def total_variation(img):
        return float(np.abs(np.diff(img, axis=0)).sum() + np.abs(np.diff(img, axis=1)).sum())

    ours = unring(ringed, n_threads=2)
    ref = gibbs_removal(ringed.copy(), slice_axis=2, n_points=3, inplace=False)
    assert ringing(ours) <= 1.01 * ringing(ref)
    assert total_variation(ours) <= 1.01 * total_variation(ref)
    assert ringing(ours) <= 0.9 * ringing(ringed)  # it does unring
    assert total_variation(ours) <= 0.9 * total_variation(ringed)
