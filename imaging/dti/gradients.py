"""b-values, b-vectors and the gradient table.

Conventions
-----------
* b-values are in s/mm^2. A volume with ``b <= b0_threshold`` (default 50
  s/mm^2) is a b0 (non diffusion-weighted) volume.
* b-vectors are returned as an ``(N, 3)`` array (one row per volume), in the
  image voxel axes as written by dcm2niix / FSL (dipy uses them as given).
  Files may be in FSL row layout (3 rows x N columns) or column layout
  (N rows x 3 columns); the layout is detected from the shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import DiffusionInputError

__all__ = [
    "B0_THRESHOLD",
    "MAX_BVAL",
    "UNIT_TOLERANCE",
    "MIN_DIRECTIONS",
    "read_bvals",
    "read_bvecs",
    "parse_bvals",
    "parse_bvecs",
    "check_bvals",
    "clean_bvecs",
    "count_directions",
    "shells",
    "validate_gradients",
    "make_gradient_table",
    "GradientTable",
]

B0_THRESHOLD = 50.0
UNIT_TOLERANCE = 0.05
MIN_DIRECTIONS = 6
# The largest b-value accepted (s/mm^2). Clinical DTI uses b of about 700-1,500 and research
# DTI/DKI protocols b <= ~3,000-5,000 s/mm^2; 10,000 leaves room for high-b research protocols,
# while anything above it is not a diffusion weighting a scanner produces (a wrong or damaged file).
MAX_BVAL = 10_000.0
# b-vectors whose length is within this of 1 are used exactly as given (so the
# design matrix is bit-identical to dipy's); longer/shorter ones that pass the
# validation tolerance are rescaled to unit length.
_RENORMALISE_ABOVE = 1e-3
_MAX_TEXT_BYTES = 1_000_000


def _read_text(path, field):
    try:
        size = os.path.getsize(path)
    except OSError:
        raise DiffusionInputError(
            field, f"the file {os.path.basename(str(path))!r} does not exist or cannot be read."
        ) from None
    if size > _MAX_TEXT_BYTES:
        raise DiffusionInputError(
            field,
            f"the file is {size} bytes; a {field} text "
            "file is a few kilobytes. Upload the plain-text "
            f".{field} file written by the DICOM converter.",
        )
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DiffusionInputError(
            field,
            "the file is not plain text. Upload the "
            f".{field} text file written by the DICOM "
            "converter (e.g. dcm2niix).",
        ) from None


def _parse_rows(text, field):
    rows = []
    for line in text.replace(",", " ").replace("\t", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            rows.append([float(tok) for tok in line.split()])
        except ValueError:
            raise DiffusionInputError(
                field,
                "the file contains text that is not a "
                f"number (line {line[:40]!r}). A .{field} file "
                "holds only numbers separated by spaces.",
            ) from None
    return rows


def parse_bvals(text: str, max_bval: float = MAX_BVAL, source: str = "the b-value file") -> np.ndarray:
    """Parse the text of a .bval file into an ``(N,)`` float64 array (s/mm^2).

    Values may be on one line (FSL) or one per line; each must pass :func:`check_bvals`.
    """
    rows = _parse_rows(text, "bval")
    vals = np.array([v for row in rows for v in row], dtype=np.float64)
    if vals.size == 0:
        raise DiffusionInputError("bval", f"{source} is empty.")
    check_bvals(vals, max_bval, source)
    return vals


def check_bvals(bvals, max_bval: float = MAX_BVAL, source: str = "the b-value file") -> None:
    """Raise unless every b-value is a finite number from 0 to ``max_bval`` s/mm^2.

    ``source`` names the input in the message (e.g. ``"the b-value file 'dwi.bval'"``).
    """
    bvals = np.asarray(bvals, dtype=np.float64)
    if not np.all(np.isfinite(bvals)):
        k = int(np.flatnonzero(~np.isfinite(bvals))[0])
        raise DiffusionInputError(
            "bval", f"{source} contains NaN or infinite values (volume {k}). Upload the .bval file of this series."
        )
    if np.any(bvals < 0):
        k = int(np.flatnonzero(bvals < 0)[0])
        raise DiffusionInputError(
            "bval",
            f"{source} contains a negative b-value ({bvals[k]:g} for volume {k}); "
            "b-values are in s/mm\u00b2 and are >= 0.",
        )
    if np.any(bvals > max_bval):
        k = int(np.argmax(bvals))
        raise DiffusionInputError(
            "bval",
            f"{source} gives b = {bvals[k]:g} s/mm\u00b2 for volume {k}; clinical and research diffusion "
            f"protocols stay below {max_bval:,.0f} s/mm\u00b2. Check that this is the .bval file of the "
            "series (in s/mm\u00b2), as written by the DICOM converter.",
        )


def parse_bvecs(text: str, n_volumes: int | None = None) -> np.ndarray:
    """Parse the text of a .bvec file into an ``(N, 3)`` float64 array.

    Both the FSL layout (3 rows of N numbers) and the column layout (N rows of
    3 numbers) are accepted; the layout is detected from the shape. When both
    dimensions are 3 the FSL layout is assumed. ``n_volumes`` (if known)
    disambiguates.

    NaN entries are kept here (some converters write ``nan`` for b0 volumes);
    :func:`validate_gradients` rejects them for diffusion-weighted volumes.
    """
    rows = _parse_rows(text, "bvec")
    if not rows:
        raise DiffusionInputError("bvec", "the b-vector file is empty.")
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise DiffusionInputError(
            "bvec",
            "the rows of the b-vector file have "
            f"different lengths ({sorted(lengths)}); the file "
            "must be 3 rows (x, y, z) of one number per volume.",
        )
    arr = np.array(rows, dtype=np.float64)
    r, c = arr.shape
    if r == 3 and (c != 3 or n_volumes in (None, 3)):
        return np.ascontiguousarray(arr.T)
    if c == 3:
        return arr
    raise DiffusionInputError(
        "bvec", f"the b-vector table is {r} x {c}; expected 3 rows (FSL layout) or 3 columns, one entry per volume."
    )


def read_bvals(path, max_bval: float = MAX_BVAL) -> np.ndarray:
    """Read a .bval text file: ``(N,)`` float64 b-values in s/mm^2 (0 to ``max_bval``)."""
    source = f"the b-value file {os.path.basename(str(path))!r}"
    return parse_bvals(_read_text(path, "bval"), max_bval, source)


def read_bvecs(path, n_volumes: int | None = None) -> np.ndarray:
    """Read a .bvec text file (3 x N or N x 3): ``(N, 3)`` float64."""
    return parse_bvecs(_read_text(path, "bvec"), n_volumes)


def clean_bvecs(bvals, bvecs, b0_threshold: float = B0_THRESHOLD) -> np.ndarray:
    """Return a copy of ``bvecs`` ready for a gradient table.

    * NaN/inf in b0 rows are set to 0 (b0 directions are irrelevant);
    * diffusion-weighted rows whose length differs from 1 by more than 1e-3
      are rescaled to unit length (rows closer to 1 are kept bit-for-bit,
      so the design matrix equals dipy's on the same files).

    Call :func:`validate_gradients` first; this function does not check.
    """
    bvals = np.asarray(bvals, dtype=np.float64)
    out = np.array(bvecs, dtype=np.float64, copy=True)
    b0 = bvals <= b0_threshold
    bad = ~np.isfinite(out)
    out[bad & b0[:, None]] = 0.0
    norms = np.linalg.norm(out, axis=1)
    fix = (~b0) & (np.abs(norms - 1.0) > _RENORMALISE_ABOVE) & (norms > 0)
    out[fix] /= norms[fix, None]
    return out


def count_directions(bvals, bvecs, b0_threshold: float = B0_THRESHOLD, angle_tolerance_deg: float = 1.0) -> int:
    """Number of distinct diffusion directions among volumes with b > threshold.

    ``g`` and ``-g`` are the same direction (diffusion is antipodally
    symmetric). Directions closer than ``angle_tolerance_deg`` are merged, so
    the same direction repeated on several shells counts once.
    """
    bvals = np.asarray(bvals, dtype=np.float64)
    g = np.asarray(bvecs, dtype=np.float64)[bvals > b0_threshold]
    if g.size == 0:
        return 0
    n = np.linalg.norm(g, axis=1)
    ok = np.isfinite(n) & (n > 0)
    g = g[ok] / n[ok, None]
    cos_tol = np.cos(np.deg2rad(angle_tolerance_deg))
    reps: list[np.ndarray] = []
    for v in g:
        if reps and np.max(np.abs(np.asarray(reps) @ v)) >= cos_tol:
            continue
        reps.append(v)
    return len(reps)


def shells(bvals, b0_threshold: float = B0_THRESHOLD, tolerance: float = 100.0):
    """Group b-values into shells.

    Returns a list of ``(nominal_b, count)`` sorted by b, where b-values within
    ``tolerance`` s/mm^2 of a shell's first value belong to that shell and the
    nominal value is the shell's median rounded to 10 s/mm^2 (b0 volumes are
    reported as 0).
    """
    bvals = np.sort(np.asarray(bvals, dtype=np.float64))
    out = []
    n_b0 = int(np.sum(bvals <= b0_threshold))
    if n_b0:
        out.append((0.0, n_b0))
    dw = bvals[bvals > b0_threshold]
    start = 0
    for i in range(1, len(dw) + 1):
        if i == len(dw) or dw[i] - dw[start] > tolerance:
            grp = dw[start:i]
            out.append((float(np.round(np.median(grp), -1)), int(grp.size)))
            start = i
    return out


def validate_gradients(
    bvals,
    bvecs,
    n_volumes: int | None = None,
    *,
    b0_threshold: float = B0_THRESHOLD,
    unit_tolerance: float = UNIT_TOLERANCE,
    min_directions: int = MIN_DIRECTIONS,
    max_bval: float = MAX_BVAL,
) -> dict:
    """Check b-values/b-vectors for a tensor fit; raise on the first problem.

    Parameters
    ----------
    bvals : array (N,)
        b-values in s/mm^2.
    bvecs : array (N, 3)
        b-vectors (use :func:`read_bvecs` to get this layout).
    n_volumes : int, optional
        Number of volumes in the 4D image; checked against N.
    b0_threshold : float
        ``b <= b0_threshold`` counts as b0 (s/mm^2).
    unit_tolerance : float
        Allowed deviation of ``|g|`` from 1 for diffusion-weighted volumes.
        Zero (or NaN) vectors are allowed for b0 volumes.
    min_directions : int
        Minimum number of distinct non-collinear directions (6 for a tensor).
    max_bval : float
        Largest accepted b-value (s/mm^2); see :data:`MAX_BVAL`.

    Returns
    -------
    dict
        ``n_b0``, ``n_dw``, ``n_directions``, ``shells`` (list of
        ``[b, count]``), ``max_bval``.

    Raises
    ------
    DiffusionInputError
        With ``field`` ``"bval"`` or ``"bvec"``.
    """
    bvals = np.asarray(bvals, dtype=np.float64)
    bvecs = np.asarray(bvecs, dtype=np.float64)
    if bvals.ndim != 1:
        raise DiffusionInputError("bval", "b-values must be a single list of numbers.")
    if bvecs.ndim != 2 or bvecs.shape[1] != 3:
        raise DiffusionInputError("bvec", "b-vectors must be 3 numbers (x, y, z) per volume.")
    nb, nv = bvals.shape[0], bvecs.shape[0]
    if n_volumes is not None and nb != n_volumes:
        raise DiffusionInputError(
            "bval",
            f"the image has {n_volumes} volumes but the "
            f"b-value file lists {nb} b-values. Upload the "
            ".bval file that belongs to this series (one value "
            "per volume).",
        )
    if nv != nb:
        raise DiffusionInputError(
            "bvec",
            f"the b-vector file lists {nv} directions "
            f"but there are {nb} b-values. Upload the .bvec "
            "file that belongs to this series (one direction "
            "per volume).",
        )
    check_bvals(bvals, max_bval, "the b-values")
    b0 = bvals <= b0_threshold
    if not np.any(b0):
        raise DiffusionInputError(
            "bval",
            "the series has no b0 (non diffusion-"
            f"weighted) volume: every b-value is above "
            f"{b0_threshold:g} s/mm\u00b2. A tensor fit needs at "
            "least one b=0 volume; include it in the export.",
        )
    dw = ~b0
    g = bvecs[dw]
    if not np.all(np.isfinite(g)):
        idx = int(np.flatnonzero(dw)[np.flatnonzero(~np.all(np.isfinite(g), 1))[0]])
        raise DiffusionInputError("bvec", f"the b-vector of volume {idx} (b={bvals[idx]:g}) is NaN or infinite.")
    norms = np.linalg.norm(g, axis=1)
    bad = np.abs(norms - 1.0) > unit_tolerance
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        idx = int(np.flatnonzero(dw)[k])
        hint = "Check that the .bvec file is the normalised one written by the DICOM converter."
        if norms[k] < 0.01:
            hint = (
                "A diffusion-weighted volume without a direction is usually a "
                "scanner-computed trace/ADC image: export the series without it "
                "(dcm2niix removes it by default)."
            )
        raise DiffusionInputError(
            "bvec",
            f"{int(bad.sum())} b-vector(s) of diffusion-"
            f"weighted volumes are not unit length (volume {idx}"
            f" has length {norms[k]:.3f}; allowed 1 \u00b1 "
            f"{unit_tolerance:g}). " + hint,
        )
    n_dirs = count_directions(bvals, bvecs, b0_threshold)
    if n_dirs < min_directions:
        raise DiffusionInputError(
            "bvec",
            f"only {n_dirs} distinct diffusion "
            f"direction(s) found; a tensor needs at least "
            f"{min_directions}. This looks like a trace-weighted "
            "or incomplete series; export the full DTI series.",
        )
    # Non-collinear is not enough: the six tensor elements must be estimable.
    gu = g / norms[:, None]
    B = np.stack(
        [
            gu[:, 0] ** 2,
            2 * gu[:, 0] * gu[:, 1],
            gu[:, 1] ** 2,
            2 * gu[:, 0] * gu[:, 2],
            2 * gu[:, 1] * gu[:, 2],
            gu[:, 2] ** 2,
        ],
        1,
    )
    if np.linalg.matrix_rank(B, tol=1e-6) < 6:
        raise DiffusionInputError(
            "bvec",
            "the diffusion directions do not determine a tensor (they lie in a plane or cone). Check the .bvec file.",
        )
    return {
        "n_b0": int(b0.sum()),
        "n_dw": int(dw.sum()),
        "n_directions": int(n_dirs),
        "shells": [[b, c] for b, c in shells(bvals, b0_threshold)],
        "max_bval": float(bvals.max()),
    }


@dataclass(frozen=True)
class GradientTable:
    """The gradient table of a series: what the tensor fit needs and no more.

    Attributes
    ----------
    bvals : float64 (N,)
        s/mm^2.
    bvecs : float64 (N, 3)
        Unit vectors for diffusion-weighted volumes, zero rows allowed for b0 (see
        :func:`clean_bvecs`); same attribute names as dipy's ``GradientTable``.
    b0_threshold : float
        Volumes with ``b <= b0_threshold`` are b0 volumes.
    """

    bvals: np.ndarray
    bvecs: np.ndarray
    b0_threshold: float = B0_THRESHOLD
    btens = None  # dipy's attribute for b-tensor encodings: none here (linear encoding)

    @property
    def b0s_mask(self) -> np.ndarray:
        """True for b0 volumes, shape (N,)."""
        return self.bvals <= self.b0_threshold

    @property
    def gradients(self) -> np.ndarray:
        """``bvals * bvecs`` (N, 3), s/mm^2 (dipy's attribute of the same name)."""
        return self.bvals[:, None] * self.bvecs


def make_gradient_table(bvals, bvecs, b0_threshold: float = B0_THRESHOLD) -> GradientTable:
    """:class:`GradientTable` from (validated) b-values and ``(N, 3)`` b-vectors.

    The b-vectors go through :func:`clean_bvecs` first. Same values as
    ``dipy.core.gradients.gradient_table(bvals, bvecs=..., b0_threshold=...)`` for what the fit
    reads (``bvals``, ``bvecs``, ``b0s_mask``), without importing dipy (about 1 s in a fresh
    process).
    """
    bvals = np.asarray(bvals, dtype=np.float64)
    return GradientTable(bvals, clean_bvecs(bvals, bvecs, b0_threshold), float(b0_threshold))
