"""Synthetic diffusion-MRI phantom with known tensors.

:func:`make_phantom` builds a head-shaped ellipsoidal "brain" (about half of
the field of view) in a signal-free background, with

* label 1 ``parenchyma``: isotropic tissue, MD 0.8e-3 mm^2/s (FA 0);
* label 2 ``ventricles``: two small CSF ellipsoids, MD 3.0e-3 mm^2/s, bright
  on b0;
* labels 3..17: 15 box-shaped "tract" regions, cylindrically symmetric
  tensors with MD 0.8e-3 mm^2/s and FA 0.1, 0.3, 0.5, 0.7, 0.9, oriented
  along x, y or z (5 FA levels x 3 orientations);

then adds Rician noise: ``|S + n1 + i n2|`` with ``n1, n2 ~ N(0, sigma)`` and
``sigma = S0 / snr`` (S0 = b0 signal of parenchyma). The background therefore
has Rayleigh-distributed magnitude.

The gradient scheme is ``n_b0`` b0 volumes followed by ``n_dirs`` directions
on a hemisphere (Fibonacci lattice) at ``bval`` s/mm^2.

The phantom is reused by the registry to make demo scans: ``fa_boost`` raises
the FA of the tract regions (e.g. 0.03 for a follow-up scan after therapy).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Phantom",
    "make_phantom",
    "make_ring_phantom",
    "fibonacci_hemisphere",
    "cylindrical_evals",
    "TRACT_FAS",
    "TRACT_AXES",
]

TRACT_FAS = (0.1, 0.3, 0.5, 0.7, 0.9)
TRACT_AXES = ("x", "y", "z")
_AXIS_VEC = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
TISSUE_MD = 0.8e-3
CSF_MD = 3.0e-3


@dataclass
class Phantom:
    """A synthetic DWI data set and its ground truth.

    Attributes
    ----------
    data : float32 (X, Y, Z, N)
        Noisy magnitude signal.
    bvals : float64 (N,)
        s/mm^2.
    bvecs : float64 (N, 3)
        Unit vectors (zero for b0), in voxel axes.
    affine : float64 (4, 4)
        Voxel to world (mm), isotropic voxels, centred on the origin.
    brain_mask : bool (X, Y, Z)
        True brain (ellipsoid).
    labels : int16 (X, Y, Z)
        0 background, 1 parenchyma, 2 ventricles, 3.. tract regions.
    label_names : dict[int, str]
    true_fa, true_md : dict[int, float]
        Noise-free FA and MD (mm^2/s) per label.
    true_axis : dict[int, str]
        Principal direction ("x", "y", "z") of tract labels.
    sigma : float
        Noise standard deviation of each quadrature channel.
    snr : float
        ``S0 / sigma`` for parenchyma.
    """

    data: np.ndarray
    bvals: np.ndarray
    bvecs: np.ndarray
    affine: np.ndarray
    brain_mask: np.ndarray
    labels: np.ndarray
    label_names: dict = field(default_factory=dict)
    true_fa: dict = field(default_factory=dict)
    true_md: dict = field(default_factory=dict)
    true_axis: dict = field(default_factory=dict)
    sigma: float = 0.0
    snr: float = 0.0

    def save(
        self, out_dir, stem: str = "dwi", dtype=np.int16, compress: bool = True, bvec_layout: str = "rows"
    ) -> dict:
        """Write ``<stem>.nii[.gz]``, ``.bval``, ``.bvec``, a label image and
        a label-name JSON into ``out_dir``.

        Parameters
        ----------
        dtype : numpy dtype
            On-disk dtype of the DWI (int16 like a scanner, or float32).
        bvec_layout : {"rows", "columns"}
            FSL 3 x N ("rows") or N x 3 ("columns").

        Returns
        -------
        dict with keys ``dwi``, ``bval``, ``bvec``, ``labels``,
        ``label_names`` (paths as str).
        """
        import nibabel as nib

        os.makedirs(out_dir, exist_ok=True)
        ext = ".nii.gz" if compress else ".nii"
        paths = {
            "dwi": os.path.join(out_dir, stem + ext),
            "bval": os.path.join(out_dir, stem + ".bval"),
            "bvec": os.path.join(out_dir, stem + ".bvec"),
            "labels": os.path.join(out_dir, stem + "_labels" + ext),
            "label_names": os.path.join(out_dir, stem + "_labels.json"),
        }
        dtype = np.dtype(dtype)
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            arr = np.empty(self.data.shape, dtype=dtype, order="F")
            for k in range(self.data.shape[-1]):  # volume by volume: low memory
                arr[..., k] = np.clip(np.rint(self.data[..., k]), info.min, info.max)
        else:
            arr = self.data.astype(dtype, copy=False)
        img = nib.Nifti1Image(arr, self.affine)
        img.header.set_xyzt_units("mm", "sec")
        img.header.set_data_dtype(dtype)
        if dtype.kind in "iu":
            img.header.set_slope_inter(1.0, 0.0)
        nib.save(img, paths["dwi"])
        del arr
        lab = nib.Nifti1Image(self.labels.astype(np.int16), self.affine)
        lab.header.set_xyzt_units("mm", "sec")
        nib.save(lab, paths["labels"])
        with open(paths["bval"], "w") as fh:
            fh.write(" ".join(f"{b:g}" for b in self.bvals) + "\n")
        with open(paths["bvec"], "w") as fh:
            if bvec_layout == "rows":
                for row in self.bvecs.T:
                    fh.write(" ".join(f"{v:.8f}" for v in row) + "\n")
            else:
                for row in self.bvecs:
                    fh.write(" ".join(f"{v:.8f}" for v in row) + "\n")
        with open(paths["label_names"], "w") as fh:
            json.dump({str(k): v for k, v in self.label_names.items()}, fh, indent=1)
        return paths


def fibonacci_hemisphere(n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors on the upper hemisphere, ``(n, 3)``."""
    i = np.arange(n) + 0.5
    z = 1.0 - i / n  # in (0, 1)
    r = np.sqrt(1.0 - z * z)
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def cylindrical_evals(fa: float, md: float) -> np.ndarray:
    """Eigenvalues ``(l1, l2, l2)`` of a cylindrical tensor with given FA, MD."""
    if fa <= 0:
        return np.array([md, md, md])
    # FA = (k - 1) / sqrt(k^2 + 2), k = l1 / l2  ->  quadratic in k
    a = fa * fa - 1.0
    b = 2.0
    c = 2.0 * fa * fa - 1.0
    k = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    l2 = 3.0 * md / (k + 2.0)
    return np.array([k * l2, l2, l2])


def _fa(ev):
    ev = np.asarray(ev, dtype=float)
    m = ev.mean()
    return float(np.sqrt(1.5 * np.sum((ev - m) ** 2) / np.sum(ev**2)))


def make_phantom(
    shape=(96, 96, 60),
    n_b0: int = 1,
    n_dirs: int = 32,
    snr: float = 30.0,
    fa_boost: float = 0.0,
    seed: int = 0,
    *,
    bval: float = 1000.0,
    voxel_size: float = 2.0,
    s0: float = 1000.0,
) -> Phantom:
    """Make a synthetic DWI phantom (see the module docstring).

    Parameters
    ----------
    shape : (X, Y, Z)
        Grid size; each dimension >= 16.
    n_b0, n_dirs : int
        Number of b0 volumes and of diffusion directions (n_dirs >= 6).
    snr : float
        b0 signal of parenchyma over the noise sigma (``inf`` for no noise).
    fa_boost : float
        Added to the FA of every tract region (capped at 0.95).
    seed : int
        Seed of the noise generator (the layout does not depend on it).
    bval : float
        b-value of the diffusion-weighted volumes, s/mm^2.
    voxel_size : float
        Isotropic voxel size in mm.
    s0 : float
        b0 signal of parenchyma.

    Returns
    -------
    Phantom
    """
    X, Y, Z = (int(s) for s in shape)
    if min(X, Y, Z) < 16:
        raise ValueError("each phantom dimension must be >= 16 voxels")
    if n_dirs < 6 or n_b0 < 1:
        raise ValueError("need n_b0 >= 1 and n_dirs >= 6")
    rng = np.random.default_rng(seed)

    bvecs = np.zeros((n_b0 + n_dirs, 3))
    bvecs[n_b0:] = fibonacci_hemisphere(n_dirs)
    bvals = np.zeros(n_b0 + n_dirs)
    bvals[n_b0:] = bval

    # --- geometry -------------------------------------------------------
    cx, cy, cz = (X - 1) / 2.0, (Y - 1) / 2.0, (Z - 1) / 2.0
    x, y, z = np.ogrid[:X, :Y, :Z]
    brain = (((x - cx) / (0.47 * X)) ** 2 + ((y - cy) / (0.49 * Y)) ** 2 + ((z - cz) / (0.47 * Z)) ** 2) <= 1.0
    labels = np.zeros((X, Y, Z), np.int16)
    labels[brain] = 1
    vz = 0.72 * Z
    for sx in (-1, 1):
        vent = (
            ((x - (cx + sx * 0.1 * X)) / max(0.05 * X, 1.5)) ** 2
            + ((y - cy) / (0.15 * Y)) ** 2
            + ((z - vz) / max(0.06 * Z, 1.5)) ** 2
        ) <= 1.0
        labels[vent & brain] = 2

    names = {1: "parenchyma", 2: "ventricles"}
    true_fa = {1: 0.0, 2: 0.0}
    true_md = {1: TISSUE_MD, 2: CSF_MD}
    true_axis: dict[int, str] = {}
    tensors = {1: np.eye(3) * TISSUE_MD, 2: np.eye(3) * CSF_MD}
    s0_of = {1: s0, 2: 1.5 * s0}

    bx = max(2, int(round(0.08 * X)))
    by = max(2, int(round(0.08 * Y)))
    sxp = max(bx + 1, int(round(0.13 * X)))
    syp = max(by + 1, int(round(0.15 * Y)))
    hz = max(1, int(round(0.1 * Z)))
    z0, z1 = int(round(cz)) - hz, int(round(cz)) + hz
    lab = 3
    for r, axis in enumerate(TRACT_AXES):
        for c, fa in enumerate(TRACT_FAS):
            fa_t = float(min(fa + fa_boost, 0.95))
            ev = cylindrical_evals(fa_t, TISSUE_MD)
            e1 = np.array(_AXIS_VEC[axis])
            D = ev[1] * np.eye(3) + (ev[0] - ev[1]) * np.outer(e1, e1)
            xc = int(round(cx + (c - 2) * sxp))
            yc = int(round(cy + (r - 1) * syp))
            x0 = xc - bx // 2
            y0 = yc - by // 2
            labels[x0 : x0 + bx, y0 : y0 + by, z0:z1] = lab
            names[lab] = f"tract_{axis}_fa{int(round(fa * 100)):02d}"
            true_fa[lab] = _fa(ev)
            true_md[lab] = float(np.mean(ev))
            true_axis[lab] = axis
            tensors[lab] = D
            s0_of[lab] = s0
            lab += 1

    # --- signal -----------------------------------------------------------
    n_lab = lab
    table = np.zeros((n_lab, bvals.size), np.float32)  # label -> signal
    for k, D in tensors.items():
        adc = np.einsum("ni,ij,nj->n", bvecs, D, bvecs)
        table[k] = s0_of[k] * np.exp(-bvals * adc)
    sigma = 0.0 if not np.isfinite(snr) else float(s0 / snr)

    data = np.empty((X, Y, Z, bvals.size), np.float32, order="F")
    for v in range(bvals.size):
        vol = table[labels, v]
        if sigma > 0:
            n1 = rng.standard_normal(vol.shape, dtype=np.float32)
            n1 *= sigma
            vol += n1
            n2 = rng.standard_normal(vol.shape, dtype=np.float32)
            n2 *= sigma
            np.hypot(vol, n2, out=vol)
        data[..., v] = vol

    affine = np.diag([voxel_size, voxel_size, voxel_size, 1.0])
    affine[:3, 3] = -voxel_size * np.array([cx, cy, cz])
    return Phantom(
        data=data,
        bvals=bvals,
        bvecs=bvecs,
        affine=affine,
        brain_mask=brain,
        labels=labels,
        label_names=names,
        true_fa=true_fa,
        true_md=true_md,
        true_axis=true_axis,
        sigma=sigma,
        snr=float(snr),
    )


RING_PLANES = ("xy", "xz", "yz")


def make_ring_phantom(
    shape=(96, 96, 60), n_dirs: int = 32, snr: float = 30.0, seed: int = 0, *, fa: float = 0.7, bval: float = 1000.0
) -> Phantom:
    """A phantom whose tracts curve: three rings (tori), one in each plane xy, xz and yz.

    In :func:`make_phantom` every tract runs along a voxel axis, and a tensor along an axis is
    unchanged by a flip of the b-vectors, so a flipped table cannot be seen there. Along a ring the
    fibre direction is the ring's tangent and takes every angle in its plane, so a flip or a swap of
    the b-vector axes turns the fitted directions across the ring in places (a gradient-table check
    can see it). Ring radius ``0.25 * min(shape)``, tube radius ``0.04 * min(shape)`` (at least 2
    voxels); cylindrical tensors of the given FA and MD 0.8e-3 mm^2/s inside, isotropic parenchyma
    around, in the brain ellipsoid of :func:`make_phantom`; one b0 and ``n_dirs`` directions,
    Rician noise ``sigma = S0 / snr``.

    Returns
    -------
    Phantom
        Labels 1 parenchyma, 3/4/5 the rings in the planes xy/xz/yz; ``true_axis`` gives each
        ring's plane; ``true_fa`` the rings' FA.
    """
    X, Y, Z = (int(s) for s in shape)
    rng = np.random.default_rng(seed)
    bvecs = np.vstack([np.zeros((1, 3)), fibonacci_hemisphere(n_dirs)])
    bvals = np.r_[0.0, np.full(n_dirs, float(bval))]
    centre = np.array([(X - 1) / 2.0, (Y - 1) / 2.0, (Z - 1) / 2.0])
    x, y, z = np.meshgrid(np.arange(X), np.arange(Y), np.arange(Z), indexing="ij")
    pos = np.stack([x, y, z], axis=-1).astype(float) - centre
    brain = ((pos[..., 0] / (0.47 * X)) ** 2 + (pos[..., 1] / (0.49 * Y)) ** 2 + (pos[..., 2] / (0.47 * Z)) ** 2) <= 1
    labels = np.zeros((X, Y, Z), np.int16)
    labels[brain] = 1
    radius, tube = 0.25 * min(X, Y, Z), max(2.0, 0.04 * min(X, Y, Z))
    # ring centres apart from each other: xy ring below the centre, xz ring forward in y, yz ring to the left in x
    offsets = {"xy": (0.0, 0.0, -0.25 * Z), "xz": (0.0, 0.31 * Y, 0.0), "yz": (-0.31 * X, 0.0, 0.0)}
    direction = np.zeros((X, Y, Z, 3))
    names, true_fa, true_axis = {1: "parenchyma"}, {1: 0.0}, {}
    for lab, plane in enumerate(RING_PLANES, start=3):
        a, b = ("xyz".index(plane[0]), "xyz".index(plane[1]))
        normal = 3 - a - b
        rel = pos - np.array(offsets[plane])
        in_plane = np.hypot(rel[..., a], rel[..., b])
        ring = (np.hypot(in_plane - radius, rel[..., normal]) <= tube) & brain
        labels[ring] = lab
        tangent = np.zeros((X, Y, Z, 3))
        tangent[..., a], tangent[..., b] = -rel[..., b], rel[..., a]
        direction[ring] = tangent[ring] / in_plane[ring, None]
        names[lab], true_fa[lab], true_axis[lab] = f"ring_{plane}", float(fa), plane
    l1, l2, _l3 = cylindrical_evals(fa, TISSUE_MD)
    signal = np.zeros((X, Y, Z, bvals.size), np.float32)
    signal[brain] = 1000.0 * np.exp(-bvals * TISSUE_MD)
    fibre = labels >= 3
    proj = direction[fibre] @ bvecs.T  # cos of the angle between fibre and gradient, (V, N)
    signal[fibre] = 1000.0 * np.exp(-bvals * (l2 + (l1 - l2) * proj**2))
    sigma = 0.0 if not np.isfinite(snr) else 1000.0 / snr
    if sigma > 0:
        signal = np.hypot(signal + rng.normal(0, sigma, signal.shape), rng.normal(0, sigma, signal.shape))
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = -2.0 * centre
    return Phantom(
        data=signal.astype(np.float32),
        bvals=bvals,
        bvecs=bvecs,
        affine=affine,
        brain_mask=brain,
        labels=labels,
        label_names=names,
        true_fa=true_fa,
        true_md={1: TISSUE_MD, 3: TISSUE_MD, 4: TISSUE_MD, 5: TISSUE_MD},
        true_axis=true_axis,
        sigma=sigma,
        snr=float(snr),
    )
