"""Small file writers for the DTI tests."""

import numpy as np


def write_nifti(path, arr, affine=None):
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(arr), np.eye(4) if affine is None else affine)
    nib.save(img, str(path))
    return str(path)


def write_bval(path, bvals):
    with open(path, "w") as fh:
        fh.write(" ".join(f"{b:g}" for b in bvals) + "\n")
    return str(path)


def write_bvec(path, bvecs, layout="rows"):
    bvecs = np.asarray(bvecs, dtype=float)
    rows = bvecs.T if layout == "rows" else bvecs
    with open(path, "w") as fh:
        for r in rows:
            fh.write(" ".join(f"{v:.6f}" for v in r) + "\n")
    return str(path)
