"""Per-region statistics from an integer label image on the DWI grid."""

from __future__ import annotations

import numpy as np

__all__ = ["region_stats"]


def region_stats(labels, fa, md, *, mask=None, label_names=None, ad=None, rd=None) -> list:
    """FA and MD (and AD and RD, when given) statistics for every non-zero label.

    Parameters
    ----------
    labels : int array (X, Y, Z)
        Region codes; 0 is background and ignored.
    fa, md : arrays (X, Y, Z)
        FA (dimensionless) and MD (mm^2/s).
    mask : bool array (X, Y, Z), optional
        Only voxels inside it are counted (the pipeline passes the brain mask,
        because FA/MD are not fitted outside it).
    label_names : dict {int: str}, optional
        Names; labels listed here but absent from the image are reported with
        ``voxels=0`` and ``None`` statistics.
    ad, rd : arrays (X, Y, Z), optional
        Axial and radial diffusivity (mm^2/s); their means are ``None`` when not given.

    Returns
    -------
    list of dict, sorted by label:
        ``label, name, voxels, fa_mean, fa_sd, fa_median, md_mean, md_sd,
        md_median, ad_mean, rd_mean``. SDs are sample SDs (``ddof=1``; ``None`` for < 2 voxels).
    """
    labels = np.asarray(labels)
    if labels.shape != np.shape(fa) or labels.shape != np.shape(md):
        raise ValueError("labels, fa and md must have the same shape")
    names = {int(k): str(v) for k, v in (label_names or {}).items()}
    sel = labels != 0
    if mask is not None:
        sel &= np.asarray(mask, bool)
    lab = labels[sel].astype(np.int64)
    f = np.asarray(fa)[sel].astype(np.float64)
    m = np.asarray(md)[sel].astype(np.float64)
    order = np.argsort(lab, kind="stable")
    lab, f, m = lab[order], f[order], m[order]
    extra = {
        key: np.asarray(image)[sel].astype(np.float64)[order]
        for key, image in (("ad_mean", ad), ("rd_mean", rd))
        if image is not None
    }
    codes, starts, counts = np.unique(lab, return_index=True, return_counts=True)
    out = {}
    for code, st, n in zip(codes, starts, counts):
        fv, mv = f[st : st + n], m[st : st + n]
        out[int(code)] = {
            "label": int(code),
            "name": names.get(int(code), f"label {int(code)}"),
            "voxels": int(n),
            "fa_mean": float(fv.mean()),
            "fa_sd": float(fv.std(ddof=1)) if n > 1 else None,
            "fa_median": float(np.median(fv)),
            "md_mean": float(mv.mean()),
            "md_sd": float(mv.std(ddof=1)) if n > 1 else None,
            "md_median": float(np.median(mv)),
            "ad_mean": float(extra["ad_mean"][st : st + n].mean()) if "ad_mean" in extra else None,
            "rd_mean": float(extra["rd_mean"][st : st + n].mean()) if "rd_mean" in extra else None,
        }
    for code, name in names.items():
        if code != 0 and code not in out:
            out[code] = {
                "label": code,
                "name": name,
                "voxels": 0,
                "fa_mean": None,
                "fa_sd": None,
                "fa_median": None,
                "md_mean": None,
                "md_sd": None,
                "md_median": None,
                "ad_mean": None,
                "rd_mean": None,
            }
    return [out[k] for k in sorted(out)]
