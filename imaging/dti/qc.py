"""Quality control items and summary statistics.

Every QC item is ``{"value": ..., "flag": "pass" | "warn" | "fail", "message": str, "notes": [...]}``;
:func:`compute_qc` returns ``{"overall": "pass" | "warn" | "fail", "items": {...}}``: "fail" if any
item fails, else "warn" if any warns. "warn" asks a radiologist to look; "fail" marks a result that
cannot be right (an empty brain mask, FA that is not a number somewhere in the mask, a tensor fit
that leaves most of the signal unexplained), which never counts for a visit unless a radiologist
marks the scan usable.

SNR method (documented for the report)
---------------------------------------
``SNR = mean(mean-b0 signal over the brain mask) / sigma``, where the noise
``sigma`` is estimated

* from **b0 repeats** when there are at least 2 b0 volumes:
  ``sigma = sqrt(mean over mask voxels of var(b0 volumes, ddof=1))``
  (includes any motion between b0s, so it is conservative);
* otherwise from the **background**: voxels outside the mask dilated by 3
  voxels, excluding exact zeros (zero-filled/cropped regions), where the
  magnitude of pure noise is Rayleigh distributed:
  ``sigma = mean(background) / sqrt(pi / 2)`` (single-channel Rician model; a
  multi-coil, non-central-chi background makes this an overestimate of
  sigma, i.e. an underestimate of SNR).

If neither is possible (one b0 and fewer than 500 non-zero background voxels)
the SNR is ``None`` with a warning.

Words
-----
``message`` is English. ``notes`` say the same as data, ``[{"text": template, "values": {...}}]``:
each template is an English sentence with ``str.format`` fields, marked with :func:`_` so that the
web app's ``makemessages`` collects it; the app shows the sentence translated, with the values
written in the reader's language. This module knows no language itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .gradients import B0_THRESHOLD

__all__ = [
    "QCThresholds",
    "note",
    "qc_item",
    "estimate_snr",
    "fa_histogram",
    "compute_qc",
    "summarize",
    "motion_qc_item",
    "gradient_table_qc_item",
]


def _(template: str) -> str:
    """Marks an English QC sentence for translation (see "Words" above); returns it unchanged."""
    return template


def note(template: str, **values) -> dict:
    """One sentence of a QC item: an English template marked with :func:`_` and its values."""
    return {"text": template, "values": values}


@dataclass(frozen=True)
class QCThresholds:
    """Limits beyond which a QC item is flagged "warn" (``fail_residual``: "fail")."""

    min_directions: int = 12
    min_snr: float = 15.0
    max_residual: float = 0.10  # RMS residual / S0
    # A good tensor fit leaves a few % of S0 (noise at SNR 20-50); half of S0 means the model does
    # not describe the data at all: wrong b-values or b-vectors, or not diffusion-weighted data.
    fail_residual: float = 0.50
    max_nonphysical: float = 0.05  # share of mask voxels
    dti_b_range: tuple = (500.0, 1500.0)
    mask_fraction: tuple = (0.05, 0.90)  # share of the field of view
    max_fa_above_095: float = 0.05  # share of mask voxels with FA > 0.95
    max_translation_mm: float = 2.0
    max_rotation_deg: float = 2.0

    def to_dict(self):
        return asdict(self)


def qc_item(value, ok: bool, notes, *, failed: bool = False) -> dict:
    """Build one QC item: "fail" if ``failed``, else "pass" if ``ok``, else "warn".

    ``notes``: the sentences (:func:`note`) that explain it, in order; ``message`` joins them in English.
    """
    notes = [n for n in notes if n]
    message = "; ".join(n["text"].format(**n["values"]) for n in notes)
    return {
        "value": value,
        "flag": "fail" if failed else "pass" if ok else "warn",
        "message": message,
        "notes": notes,
    }


def estimate_snr(
    data, bvals, mask, b0_threshold: float = B0_THRESHOLD, b0_mean=None, min_background: int = 500
) -> dict:
    """Estimate the b0 SNR in the brain (see module docstring).

    Parameters
    ----------
    data : array (X, Y, Z, N)
    bvals : array (N,) in s/mm^2
    mask : bool array (X, Y, Z)
    b0_mean : array (X, Y, Z), optional
        Mean b0 image if already computed.

    Returns
    -------
    dict
        ``{"snr": float | None, "signal": float, "sigma": float | None,
        "method": "b0_repeats" | "background" | "unavailable",
        "n_noise_samples": int}``
    """
    from .mask import mean_b0
    from .morphology import dilate

    bvals = np.asarray(bvals)
    mask = np.asarray(mask, bool)
    b0_idx = np.flatnonzero(bvals <= b0_threshold)
    if b0_mean is None:
        b0_mean = mean_b0(data, bvals, b0_threshold)
    if not mask.any():
        return {"snr": None, "signal": 0.0, "sigma": None, "method": "unavailable", "n_noise_samples": 0}
    signal = float(np.mean(b0_mean[mask], dtype=np.float64))
    sigma = None
    method = "unavailable"
    n = 0
    if b0_idx.size >= 2:
        acc = np.zeros(int(mask.sum()), dtype=np.float64)
        vals = [np.asarray(data[..., k])[mask].astype(np.float64) for k in b0_idx]
        m = np.mean(vals, axis=0)
        for v in vals:
            acc += (v - m) ** 2
        var = acc / (len(vals) - 1)
        sigma = float(np.sqrt(np.mean(var)))
        method = "b0_repeats"
        n = int(var.size * (len(vals) - 1))
    else:
        outside = ~dilate(mask, iterations=3)
        bg = np.asarray(b0_mean)[outside]
        bg = bg[bg != 0]
        n = int(bg.size)
        if n >= min_background:
            sigma = float(np.mean(bg, dtype=np.float64) / np.sqrt(np.pi / 2.0))
            method = "background"
    snr = signal / sigma if sigma and sigma > 0 else None
    return {
        "snr": None if snr is None else float(snr),
        "signal": signal,
        "sigma": sigma,
        "method": method,
        "n_noise_samples": n,
    }


def fa_histogram(fa, mask, bins: int = 20) -> dict:
    """FA histogram over the mask: ``{"bin_edges": [bins+1], "counts": [bins]}``."""
    vals = np.asarray(fa)[np.asarray(mask, bool)]
    counts, edges = np.histogram(np.clip(vals, 0, 1), bins=bins, range=(0.0, 1.0))
    return {"bin_edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def motion_qc_item(motion: dict, th: QCThresholds) -> dict:
    """QC item for the motion estimates of the full profile."""
    mt, mr = motion["max_translation_mm"], motion["max_rotation_deg"]
    ok = mt <= th.max_translation_mm and mr <= th.max_rotation_deg
    notes = [
        note(
            _(
                "max translation {max_mm:.2f} mm (mean {mean_mm:.2f}), "
                "max rotation {max_deg:.2f}° (mean {mean_deg:.2f})"
            ),
            max_mm=mt,
            mean_mm=motion["mean_translation_mm"],
            max_deg=mr,
            mean_deg=motion["mean_rotation_deg"],
        )
    ]
    if not ok:
        notes.append(
            note(
                _("above {limit_mm:g} mm / {limit_deg:g}° – check the corrected images, consider repeating the scan"),
                limit_mm=th.max_translation_mm,
                limit_deg=th.max_rotation_deg,
            )
        )
    return qc_item(motion, ok, notes)


def gradient_table_qc_item(check) -> dict:
    """QC item "gradient table" from :func:`imaging.dti.gradcheck.check_gradient_table` (None: too few
    anisotropic voxels to judge, a warning). Fails, naming the likely fix, when a flip or a permutation
    of the b-vector axes fits the data clearly better than the given table."""
    if check is None:
        return qc_item(None, False, [note(_("too few anisotropic voxels to check the gradient table"))])
    if not check.suspicious:  # the given table stands; a candidate within the margin is noise, not a fix
        return qc_item(
            {"coherence": round(check.given, 4), "table": "x y z"},
            True,
            [
                note(
                    _("fibre coherence {given:.3f}; no flip or swap of the b-vector axes fits better"),
                    given=check.given,
                )
            ],
        )
    notes = []
    moved = [i for i in range(3) if check.perm[i] != i]
    axes = "xyz"
    if len(moved) == 2:
        notes.append(
            note(_("b-vector axes {first} and {second} look swapped"), first=axes[moved[0]], second=axes[moved[1]])
        )
    elif moved:
        notes.append(note(_("b-vector axes look permuted")))
    if check.flip is not None:
        notes.append(note(_("b-vectors look flipped in {axis}"), axis=axes[check.perm[check.flip]]))
    notes.append(
        note(
            _(
                "the table {table} fits the data better (fibre coherence {best:.3f} against {given:.3f}): "
                "check the b-vectors"
            ),
            table=check.table,
            best=check.best,
            given=check.given,
        )
    )
    value = {"coherence": round(check.given, 4), "best": round(check.best, 4), "table": check.table}
    return qc_item(value, False, notes, failed=True)


def compute_qc(
    *,
    bvals,
    bvecs,
    maps,
    snr: dict,
    b0_threshold: float = B0_THRESHOLD,
    n_directions: int | None = None,
    motion: dict | None = None,
    thresholds: QCThresholds | None = None,
    extra: dict | None = None,
) -> dict:
    """Assemble the QC report.

    Parameters
    ----------
    bvals, bvecs : arrays (N,), (N, 3)
    maps : imaging.dti.tensor.DTIMaps
    snr : dict
        Output of :func:`estimate_snr`.
    motion : dict, optional
        Output of :func:`imaging.dti.preprocess.motion_correct` (full profile).
    extra : dict, optional
        Additional ready-made items (name -> item).
    """
    from .gradients import count_directions, shells

    th = thresholds or QCThresholds()
    bvals = np.asarray(bvals)
    mask = maps.mask
    nmask = int(mask.sum())
    items = {}

    n_b0 = int(np.sum(bvals <= b0_threshold))
    items["b0_count"] = qc_item(
        n_b0,
        n_b0 >= 1,
        [
            note(_("{count} b0 volume(s)"), count=n_b0),
            n_b0 < 2 and note(_("2 or more allow a noise estimate from repeats")),
        ],
    )
    nd = count_directions(bvals, bvecs, b0_threshold) if n_directions is None else int(n_directions)
    items["n_directions"] = qc_item(
        nd,
        nd >= th.min_directions,
        [
            note(_("{count} distinct diffusion directions"), count=nd),
            nd < th.min_directions
            and note(_("fewer than {minimum} gives noisy FA, 30+ recommended"), minimum=th.min_directions),
        ],
    )
    sh = shells(bvals, b0_threshold)
    dw = [b for b, _count in sh if b > 0]
    lo, hi = th.dti_b_range
    in_range = any(lo <= b <= hi for b in dw)
    too_high = any(b > hi for b in dw)
    items["b_values"] = qc_item(
        [[float(b), int(c)] for b, c in sh],
        in_range and not too_high,
        [
            note(_("shells {shells}"), shells=", ".join(f"b={b:g} ({c})" for b, c in sh)),
            not in_range and note(_("no shell in the usual DTI range {low:g}-{high:g} s/mm²"), low=lo, high=hi),
            too_high and note(_("b > {high:g} s/mm² is non-Gaussian and lowers the tensor's MD/FA"), high=hi),
        ],
    )

    s = snr.get("snr")
    if s is None:
        items["snr"] = qc_item(None, False, [note(_("SNR could not be estimated (one b0 and no usable background)"))])
    else:
        noise = {
            "b0_repeats": _("b0 SNR {snr:.1f} (noise from the b0 repeats)"),
            "background": _("b0 SNR {snr:.1f} (noise from the background)"),
        }.get(snr["method"], _("b0 SNR {snr:.1f}"))
        items["snr"] = qc_item(
            round(float(s), 2),
            s >= th.min_snr,
            [
                note(noise, snr=float(s)),
                s < th.min_snr and note(_("below {minimum:g}, FA is biased upwards"), minimum=th.min_snr),
            ],
        )

    frac = nmask / mask.size if mask.size else 0.0
    flo, fhi = th.mask_fraction
    items["brain_mask"] = qc_item(
        {"voxels": nmask, "fraction": round(frac, 4)},
        flo <= frac <= fhi,
        [
            note(_("brain mask {voxels} voxels ({fraction:.1%} of the field of view)"), voxels=nmask, fraction=frac),
            not nmask and note(_("empty – nothing was measured")),
            nmask and not flo <= frac <= fhi and note(_("check the mask preview, masking may have failed")),
        ],
        failed=not nmask,
    )

    if nmask:
        res = float(np.mean(maps.residual[mask], dtype=np.float64))
        nonphys = float(np.mean(maps.nonphysical[mask]))
        fa_vals = maps.fa[mask]
        hi_fa = float(np.mean(fa_vals > 0.95))
        fa_not_finite = int(fa_vals.size - np.count_nonzero(np.isfinite(fa_vals)))
    else:
        res, nonphys, hi_fa, fa_not_finite = float("nan"), 0.0, 0.0, 0
    items["fa_finite"] = qc_item(
        fa_not_finite,
        not fa_not_finite,
        [
            note(_("{count} of {voxels} mask voxels have no finite FA"), count=fa_not_finite, voxels=nmask),
            fa_not_finite and note(_("the tensor fit failed there and the brain FA cannot be computed")),
        ],
        failed=bool(fa_not_finite),
    )
    res_failed = not np.isfinite(res) or res > th.fail_residual
    items["fit_residual"] = qc_item(
        round(res, 5) if np.isfinite(res) else None,
        bool(res <= th.max_residual),
        [
            note(_("mean RMS fit residual {residual:.1%} of S0"), residual=res)
            if np.isfinite(res)
            else note(_("fit residual not available")),
            res_failed
            and np.isfinite(res)
            and note(
                _(
                    "above {limit:.0%} – the tensor does not describe these data "
                    "(wrong b-values or b-vectors, or not a diffusion series)"
                ),
                limit=th.fail_residual,
            ),
            not res_failed and res > th.max_residual and note(_("high – artefacts, motion or wrong b-vectors")),
        ],
        failed=res_failed,
    )
    items["nonphysical_eigenvalues"] = qc_item(
        round(nonphys, 5),
        nonphys <= th.max_nonphysical,
        [
            note(_("{fraction:.2%} of mask voxels had a negative eigenvalue"), fraction=nonphys),
            nonphys > th.max_nonphysical and note(_("high – check noise, masking and b-vector orientation")),
        ],
    )
    items["fa_histogram"] = qc_item(
        fa_histogram(maps.fa, mask),
        hi_fa <= th.max_fa_above_095,
        [
            note(_("{fraction:.2%} of mask voxels have FA > 0.95"), fraction=hi_fa),
            hi_fa > th.max_fa_above_095 and note(_("suspicious (noise/artefacts)")),
        ],
    )
    if motion is not None:
        items["motion"] = motion_qc_item(motion, th)
    if extra:
        items.update(extra)
    flags = {i["flag"] for i in items.values()}
    overall = "fail" if "fail" in flags else "warn" if "warn" in flags else "pass"
    return {"overall": overall, "items": items}


def summarize(fa, md, mask, *, wm_threshold: float = 0.2, voxel_volume_mm3=None) -> dict:
    """Mean/median FA in the mask and in white matter (FA > ``wm_threshold``),
    and mean MD (mm^2/s)."""
    mask = np.asarray(mask, bool)
    f = np.asarray(fa)[mask].astype(np.float64)
    m = np.asarray(md)[mask].astype(np.float64)
    wm = f > wm_threshold

    def stat(fn, a):
        return float(fn(a)) if a.size else None

    out = {
        "mask_voxels": int(mask.sum()),
        "wm_voxels": int(wm.sum()),
        "wm_fa_threshold": float(wm_threshold),
        "fa_mean": stat(np.mean, f),
        "fa_median": stat(np.median, f),
        "wm_fa_mean": stat(np.mean, f[wm]),
        "wm_fa_median": stat(np.median, f[wm]),
        "md_mean": stat(np.mean, m),
        "wm_md_mean": stat(np.mean, m[wm]),
        "md_unit": "mm^2/s",
    }
    if voxel_volume_mm3 is not None:
        out["mask_volume_ml"] = round(out["mask_voxels"] * float(voxel_volume_mm3) / 1000.0, 3)
    return out
