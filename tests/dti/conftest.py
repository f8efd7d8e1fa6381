"""Fixtures for the DTI pipeline tests (plain pytest, no Django): phantoms and file writers."""

from pathlib import Path

import numpy as np
import pytest

from imaging.dti.phantom import make_phantom


@pytest.fixture(scope="session")
def repo_root():
    return str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="session")
def small_phantom():
    """40x40x24 phantom, 2 b0 + 20 directions at b=1000, SNR 30."""
    return make_phantom((40, 40, 24), n_b0=2, n_dirs=20, snr=30.0, seed=3)


@pytest.fixture(scope="session")
def small_phantom_files(small_phantom, tmp_path_factory):
    d = tmp_path_factory.mktemp("phantom")
    return small_phantom.save(str(d))


@pytest.fixture(scope="session")
def write_nifti():
    """write_nifti(path, array, affine=None) -> path: an array as a NIfTI file (identity affine by default)."""
    import nibabel as nib

    def write(path, arr, affine=None):
        nib.save(nib.Nifti1Image(np.asarray(arr), np.eye(4) if affine is None else affine), str(path))
        return str(path)

    return write


@pytest.fixture(scope="session")
def write_bval():
    """write_bval(path, bvals) -> path: b-values as one line of text, FSL style."""

    def write(path, bvals):
        with open(path, "w") as fh:
            fh.write(" ".join(f"{b:g}" for b in bvals) + "\n")
        return str(path)

    return write


@pytest.fixture(scope="session")
def write_bvec():
    """write_bvec(path, bvecs, layout="rows") -> path: b-vectors (N, 3) as FSL rows (3 x N) or columns (N x 3)."""

    def write(path, bvecs, layout="rows"):
        bvecs = np.asarray(bvecs, dtype=float)
        with open(path, "w") as fh:
            for row in bvecs.T if layout == "rows" else bvecs:
                fh.write(" ".join(f"{v:.6f}" for v in row) + "\n")
        return str(path)

    return write
