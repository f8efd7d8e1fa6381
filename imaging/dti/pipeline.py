"""The DTI pipeline: arrays in the middle (:func:`process_dwi`), files at the
edges (:func:`run_pipeline`).

Profiles
--------
``standard`` (default)
    gradient table -> brain mask (median_otsu on the mean b0) -> tensor fit
    (WLS, or OLS) -> maps, QC, summary, region statistics.
``full``
    MP-PCA denoising -> Gibbs unringing -> rigid motion correction with
    b-vector rotation -> then as ``standard``; QC additionally reports motion.

Outputs written by :func:`run_pipeline` into ``out_dir``
-------------------------------------------------------
``fa.nii.gz``, ``md.nii.gz``, ``ad.nii.gz``, ``rd.nii.gz`` (float32; MD/AD/RD
in mm^2/s), ``color_fa.nii.gz`` (float32, 4D ``(X, Y, Z, 3)``: RGB =
``FA * |e1|`` along the voxel axes x, y, z, values 0..1), ``mask.nii.gz``
(uint8), all with the input's affine; ``fa_axial.png``,
``color_fa_axial.png``; ``results.json``; for ``full`` also
``bvecs_rotated.bvec`` (FSL 3 x N).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np

from .errors import DiffusionInputError
from .gradcheck import check_gradient_table
from .gradients import B0_THRESHOLD, MIN_DIRECTIONS, UNIT_TOLERANCE, make_gradient_table, validate_gradients
from .io import (
    DWIFile,
    InputLimits,
    check_finite,
    load_labels,
    parse_label_names,
    save_nifti,
    sha256_file,
    validate_inputs,
)
from .mask import MASK_MEDIAN_RADIUS, MASK_NUMPASS, brain_mask, mean_b0
from .qc import QCThresholds, _, compute_qc, estimate_snr, gradient_table_qc_item, note, qc_item, summarize
from .roi import region_stats
from .tensor import DEFAULT_CHUNK, MIN_SIGNAL, DTIMaps, fit_dti

__all__ = [
    "PIPELINE_VERSION",
    "PROFILES",
    "FIT_METHODS",
    "PipelineSettings",
    "ProcessResult",
    "PipelineResult",
    "process_dwi",
    "run_pipeline",
    "preload",
    "MAP_FILES",
]

PIPELINE_VERSION = "1.0.0"
PROFILES = ("standard", "full")
FIT_METHODS = ("WLS", "OLS")
WM_FA_THRESHOLD = 0.2
MAP_FILES = {
    "fa": "fa.nii.gz",
    "md": "md.nii.gz",
    "ad": "ad.nii.gz",
    "rd": "rd.nii.gz",
    "color_fa": "color_fa.nii.gz",
    "mask": "mask.nii.gz",
    "b0": "b0.nii.gz",
}
PREVIEW_FILES = {"fa": "fa_axial.png", "color_fa": "color_fa_axial.png"}

# stage -> (start %, end %) of the whole run (run_pipeline) or of the
# computation alone (process_dwi called directly: "arrays:" plans)
_PLANS = {
    "standard": {
        "validate": (0, 3),
        "load": (3, 20),
        "mask": (20, 25),
        "fit": (25, 75),
        "qc": (75, 80),
        "rois": (80, 82),
        "save": (82, 90),
        "previews": (90, 98),
        "results": (98, 99),
        "done": (100, 100),
    },
    "full": {
        "validate": (0, 2),
        "load": (2, 6),
        "premask": (6, 8),
        "denoise": (8, 30),
        "gibbs": (30, 35),
        "motion": (35, 70),
        "mask": (70, 72),
        "fit": (72, 88),
        "qc": (88, 90),
        "rois": (90, 91),
        "save": (91, 95),
        "previews": (95, 98),
        "results": (98, 99),
        "done": (100, 100),
    },
    "arrays:standard": {"mask": (0, 10), "fit": (10, 90), "qc": (90, 97), "rois": (97, 99), "done": (100, 100)},
    "arrays:full": {
        "premask": (0, 2),
        "denoise": (2, 30),
        "gibbs": (30, 36),
        "motion": (36, 80),
        "mask": (80, 82),
        "fit": (82, 96),
        "qc": (96, 98),
        "rois": (98, 99),
        "done": (100, 100),
    },
}


class _Reporter:
    """Maps (stage, fraction) to the caller's ``progress(stage, percent)``,
    keeping the percentage monotonic and timing the stages."""

    def __init__(self, callback, profile):
        self.cb = callback
        self.plan = _PLANS[profile]
        self.last = -1
        self.timings: dict = {}
        self._stage = None
        self._t0 = None

    def __call__(self, stage, frac=0.0):
        new_stage = stage != self._stage
        if new_stage:
            now = time.perf_counter()
            if self._stage is not None:
                self.timings[self._stage] = round(self.timings.get(self._stage, 0.0) + now - self._t0, 4)
            self._stage, self._t0 = stage, now
        lo, hi = self.plan.get(stage, (max(self.last, 0), max(self.last, 0)))
        pct = int(round(lo + (hi - lo) * min(max(float(frac), 0.0), 1.0)))
        pct = max(pct, self.last, 0)
        if self.cb is not None and (new_stage or pct != self.last):
            self.cb(stage, int(pct))
        self.last = pct

    def sub(self, stage):
        return lambda frac: self(stage, frac)

    def finish(self):
        self("done", 1.0)
        self._stage = None


@dataclass
class ProcessResult:
    """Result of :func:`process_dwi` (arrays on the input grid)."""

    maps: DTIMaps
    mask: np.ndarray
    b0_mean: np.ndarray
    bvecs: np.ndarray
    qc: dict
    summary: dict
    rois: list | None
    motion: dict | None
    snr: dict
    parameters: dict
    timings: dict = field(default_factory=dict)


@dataclass
class PipelineResult:
    """Result of :func:`run_pipeline`; everything is plain JSON-able data.

    ``maps`` and ``previews`` map names to absolute file paths; ``qc``,
    ``summary``, ``rois`` and ``provenance`` are the dicts also stored in
    ``results_json``.
    """

    out_dir: str
    maps: dict
    previews: dict
    results_json: str
    qc: dict
    summary: dict
    rois: list | None
    provenance: dict
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "out_dir": self.out_dir,
            "maps": dict(self.maps),
            "previews": dict(self.previews),
            "results_json": self.results_json,
            "qc": self.qc,
            "summary": self.summary,
            "rois": self.rois,
            "provenance": self.provenance,
            "timings": self.timings,
        }


@dataclass(frozen=True)
class PipelineSettings:
    """How a scan is processed: one value object for every caller (task, command line, tests).

    Attributes
    ----------
    profile : {"standard", "full"}
        See the module docstring.
    fit_method : {"WLS", "OLS"}
        Tensor fit (case-insensitive; stored upper-case).
    b0_threshold : float
        Volumes with ``b <= b0_threshold`` (s/mm^2) are b0 volumes.
    unit_tolerance : float
        Allowed deviation of diffusion b-vector lengths from 1.
    min_directions : int
        Fewest distinct diffusion directions accepted.
    limits : InputLimits
        Size limits of the input files (checked from the header before any data is read).
    thresholds : QCThresholds
        Limits beyond which a QC item is flagged "warn".
    mask_median_radius, mask_numpass : int
        See :func:`imaging.dti.mask.brain_mask`.
    n_threads : int or None
        Threads of the tensor fit and of the ``full`` profile's denoising, unringing and
        motion correction (None: as many as the machine has, at most 4).
    chunk_size : int
        Voxels per block of the tensor fit (bounds its memory).
    previews : bool
        Write the PNG montages (:func:`run_pipeline` only).
    preview_languages : tuple of (code, PreviewWords)
        Previews drawn again in these languages besides English, named ``fa_<code>`` and
        ``color_fa_<code>`` (files ``fa_axial.<code>.png``); the words are the caller's.

    Raises
    ------
    ValueError
        An unknown profile or fit method (a programming error, not an input error).
    """

    profile: str = "standard"
    fit_method: str = "WLS"
    b0_threshold: float = B0_THRESHOLD
    unit_tolerance: float = UNIT_TOLERANCE
    min_directions: int = MIN_DIRECTIONS
    limits: InputLimits = field(default_factory=InputLimits)
    thresholds: QCThresholds = field(default_factory=QCThresholds)
    mask_median_radius: int = MASK_MEDIAN_RADIUS
    mask_numpass: int = MASK_NUMPASS
    n_threads: int | None = None
    chunk_size: int = DEFAULT_CHUNK
    previews: bool = True
    preview_languages: tuple = ()

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, not {self.profile!r}")
        fit_method = str(self.fit_method).upper()
        if fit_method not in FIT_METHODS:
            raise ValueError(f"fit_method must be one of {FIT_METHODS}, not {self.fit_method!r}")
        object.__setattr__(self, "fit_method", fit_method)


def process_dwi(
    data,
    bvals,
    bvecs,
    settings: PipelineSettings | None = None,
    *,
    zooms=(1.0, 1.0, 1.0),
    labels=None,
    label_names=None,
    mask=None,
    progress=None,
) -> ProcessResult:
    """Run the pipeline on arrays (no files); the arrays are validated first.

    Parameters
    ----------
    data : array (X, Y, Z, N)
        DWI signal; converted to float32 if needed. The caller's array is
        never modified (the ``full`` profile works on a copy).
    bvals : array (N,)
        s/mm^2.
    bvecs : array (N, 3)
        Unit vectors in voxel axes (zero/NaN allowed for b0).
    settings : PipelineSettings, optional
        Defaults to ``PipelineSettings()`` (standard profile, WLS fit).
    zooms : (3,)
        Voxel size in mm (used by motion correction and volume reporting).
    labels : int array (X, Y, Z), optional
        Region codes for :func:`imaging.dti.roi.region_stats`.
    label_names : dict {int: str}, optional
    mask : bool array (X, Y, Z), optional
        Use this brain mask instead of computing one.
    progress : callable(stage: str, percent: int), optional
        Called at each stage with a non-decreasing percentage of this computation.

    Returns
    -------
    ProcessResult

    Raises
    ------
    DiffusionInputError
        The gradients do not describe the data, or the data contain NaN/inf.
    """
    settings = settings or PipelineSettings()
    bvals = np.asarray(bvals, dtype=np.float64)
    bvecs = np.asarray(bvecs, dtype=np.float64)
    data = np.asarray(data)
    if data.ndim != 4:
        raise DiffusionInputError("dwi", "the image must be 4D (x, y, z, volumes).")
    validate_gradients(
        bvals,
        bvecs,
        data.shape[-1],
        b0_threshold=settings.b0_threshold,
        unit_tolerance=settings.unit_tolerance,
        min_directions=settings.min_directions,
        max_bval=settings.limits.max_bval,
    )
    check_finite(data)
    if data.dtype != np.float32:
        data = data.astype(np.float32)
    elif settings.profile == "full":
        data = data.copy(order="F")  # preprocessing works in place
    rep = _Reporter(progress, "arrays:" + settings.profile)
    res = _compute(data, bvals, bvecs, settings, rep, zooms=zooms, labels=labels, label_names=label_names, mask=mask)
    rep.finish()
    res.timings = dict(rep.timings)
    return res


def _compute(data, bvals, bvecs, settings, rep, *, zooms, labels, label_names, mask) -> ProcessResult:
    """The computation on validated float32 arrays that it may modify; reports to ``rep``."""
    profile, b0_threshold = settings.profile, settings.b0_threshold
    shape = data.shape[:3]
    extra_qc = {}
    motion = None

    rep("premask" if profile == "full" else "mask", 0.0)
    b0m = mean_b0(data, bvals, b0_threshold)
    if mask is None:
        mask0 = brain_mask(b0m, settings.mask_median_radius, settings.mask_numpass)
    else:
        mask0 = np.asarray(mask, bool)
        if mask0.shape != shape:
            raise ValueError("mask shape differs from the data")
    snr = estimate_snr(data, bvals, mask0, b0_threshold, b0_mean=b0m)

    bvecs_used = bvecs
    if profile == "full":
        from .morphology import dilate
        from .preprocess import denoise_mppca, motion_correct, unring
        from .tensor import default_threads

        threads = default_threads() if settings.n_threads is None else max(1, int(settings.n_threads))
        work_mask = dilate(mask0, iterations=2)
        rep("denoise", 0.0)
        data, sigma = denoise_mppca(data, mask=work_mask, n_threads=threads)
        sig = float(np.mean(sigma[mask0])) if mask0.any() else float("nan")
        extra_qc["noise_sigma_mppca"] = qc_item(
            round(sig, 4),
            True,
            [
                note(
                    _(
                        "mean MP-PCA noise sigma in the mask {sigma:.2f} "
                        "(signal units; b0 SNR by this estimate {snr:.1f})"
                    ),
                    sigma=sig,
                    snr=snr["signal"] / sig if sig > 0 else float("nan"),
                )
            ],
        )
        del sigma
        rep("gibbs", 0.0)
        data = unring(data, mask=work_mask, n_threads=threads)
        rep("motion", 0.0)
        data, bvecs_used, motion = motion_correct(
            data,
            bvals,
            bvecs,
            zooms,
            b0_threshold=b0_threshold,
            static_mask=work_mask,
            n_threads=threads,
            progress=rep.sub("motion"),
        )
        rep("mask", 0.0)
        b0m = mean_b0(data, bvals, b0_threshold)
        if mask is None:
            mask0 = brain_mask(b0m, settings.mask_median_radius, settings.mask_numpass)

    rep("mask", 1.0)
    gtab = make_gradient_table(bvals, bvecs_used, b0_threshold)
    rep("fit", 0.0)
    maps = fit_dti(
        data,
        gtab,
        mask0,
        settings.fit_method,
        chunk_size=settings.chunk_size,
        n_threads=settings.n_threads,
        progress=rep.sub("fit"),
    )
    rep("qc", 0.0)
    extra_qc["gradient_table"] = gradient_table_qc_item(check_gradient_table(maps.evec1, maps.fa, mask0, zooms))
    qc = compute_qc(
        bvals=bvals,
        bvecs=bvecs_used,
        maps=maps,
        snr=snr,
        b0_threshold=b0_threshold,
        motion=motion,
        thresholds=settings.thresholds,
        extra=extra_qc,
    )
    vox_vol = float(np.prod(np.asarray(zooms[:3], dtype=float)))
    summary = summarize(maps.fa, maps.md, mask0, wm_threshold=WM_FA_THRESHOLD, voxel_volume_mm3=vox_vol)
    rois = None
    if labels is not None:
        rep("rois", 0.0)
        labels = np.asarray(labels)
        if labels.shape != shape:
            raise DiffusionInputError(
                "labels", f"the label image is {labels.shape} but the diffusion image is {shape}."
            )
        rois = region_stats(labels, maps.fa, maps.md, mask=mask0, label_names=label_names, ad=maps.ad, rd=maps.rd)
    params = {
        "profile": profile,
        "fit_method": settings.fit_method,
        "b0_threshold": float(b0_threshold),
        "min_signal": MIN_SIGNAL,
        "mask": {
            "method": "median_otsu (as dipy's) on mean b0 + largest component + hole filling"
            if mask is None
            else "given",
            "median_radius": int(settings.mask_median_radius),
            "numpass": int(settings.mask_numpass),
        },
        "chunk_size": int(settings.chunk_size),
        "wm_fa_threshold": WM_FA_THRESHOLD,
        "snr_method": snr["method"],
        "qc_thresholds": settings.thresholds.to_dict(),
    }
    if profile == "full":
        params["preprocessing"] = [
            "MP-PCA (Veraart 2016, as dipy.denoise.localpca.mppca) with patch_radius=2, patch centres every "
            "2 voxels, mask=brain mask dilated 2",
            "Gibbs unringing (Kellner 2016, as dipy.denoise.gibbs.gibbs_removal) slice_axis=2, n_points=3, "
            "16 subvoxel shifts a side from 0.02 to 0.9 voxel, lines through the dilated brain mask",
            "rigid registration (least squares, Gauss-Newton) of each volume to the mean b0 or its shell's "
            "median, shell medians to the mean b0 by mutual information (dipy), with b-vector rotation",
        ]
    return ProcessResult(
        maps=maps,
        mask=mask0,
        b0_mean=b0m,
        bvecs=bvecs_used,
        qc=qc,
        summary=summary,
        rois=rois,
        motion=motion,
        snr=snr,
        parameters=params,
    )


def preload() -> None:
    """Import what a standard run needs (nibabel, Pillow and its default font).

    A first :func:`run_pipeline` in a fresh process spends a few tenths of a second on these;
    call this once at worker start (e.g. Celery ``worker_process_init``) so each job only pays
    for the computation. The ``full`` profile's dipy modules are imported when first used.
    """
    import nibabel  # noqa: F401
    from PIL import Image, ImageDraw, ImageFont  # noqa: F401

    ImageFont.load_default(size=12)


def _import_ahead(settings) -> None:
    """Import the modules of the coming stages in a background thread, while the data are
    decoded (GIL released): a fresh process (the command line) then does not wait for them.
    A no-op where they are loaded already (a worker after :func:`preload`)."""
    import sys
    import threading

    names = ["PIL.Image", "PIL.ImageDraw", "PIL.ImageFont"] if settings.previews else []
    missing = [n for n in names if n not in sys.modules]

    def load():
        import importlib

        try:
            for name in missing:
                importlib.import_module(name)
        except ImportError:  # the stage that needs it reports it
            pass

    if missing:
        threading.Thread(target=load, name="import-ahead", daemon=True).start()


# (provenance name, module): versions read from the modules' ``__version__``
# (importlib.metadata scans every installed distribution: ~0.1 s)
_VERSIONED = (
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("nibabel", "nibabel"),
    ("dipy", "dipy"),
    ("pillow", "PIL"),
    ("isal", "isal"),
)


def _versions():
    import importlib

    out = {"python": platform.python_version()}
    for name, module in _VERSIONED:
        try:
            out[name] = str(importlib.import_module(module).__version__)
        except (ImportError, AttributeError):
            out[name] = None
    return out


def _file_entry(path, sha=None):
    if path is None:
        return None
    return {"name": os.path.basename(str(path)), "bytes": os.path.getsize(path), "sha256": sha or sha256_file(path)}


def run_pipeline(
    dwi_path,
    bval_path,
    bvec_path,
    out_dir,
    settings: PipelineSettings | None = None,
    *,
    labels_path=None,
    label_names=None,
    progress=None,
) -> PipelineResult:
    """Run the DTI pipeline on files and write maps, previews and results.json.

    The files are validated here, once (header and gradients, then one streaming pass over the
    data that also loads it), before the computation shared with :func:`process_dwi`.

    Parameters
    ----------
    dwi_path : str or Path
        4D NIfTI (.nii or .nii.gz).
    bval_path, bvec_path : str or Path
        FSL-style text files (b-vectors as 3 x N or N x 3).
    out_dir : str or Path
        Created if needed; existing files with the output names are replaced.
    settings : PipelineSettings, optional
        Defaults to ``PipelineSettings()`` (standard profile, WLS fit).
    labels_path : str or Path, optional
        Integer label image on the DWI grid, for per-region statistics.
    label_names : dict, JSON string, or a pathlib.Path of a JSON file, optional
        ``{code: name}``.
    progress : callable(stage: str, percent: int), optional
        Called at each stage (and during long stages) with a non-decreasing
        percentage; an exception raised by it aborts the run.

    Returns
    -------
    PipelineResult

    Raises
    ------
    DiffusionInputError
        Bad input (``field`` says which); nothing is written in that case
        except possibly the output directory.
    """
    t_start = time.perf_counter()
    started = _dt.datetime.now(_dt.UTC)
    settings = settings or PipelineSettings()
    profile = settings.profile
    rep = _Reporter(progress, profile)

    rep("validate", 0.0)
    # the file is read, hashed and decompressed ahead (GIL released) while the header and the
    # gradients are checked; nothing is decoded before they pass
    with DWIFile(dwi_path) as dwi_file:
        summary_in = validate_inputs(
            dwi_path,
            bval_path,
            bvec_path,
            b0_threshold=settings.b0_threshold,
            unit_tolerance=settings.unit_tolerance,
            min_directions=settings.min_directions,
            limits=settings.limits,
        )
        hdr_info = summary_in.header
        names = parse_label_names(label_names)
        labels = None
        if labels_path is not None:
            labels = load_labels(labels_path, hdr_info.shape[:3], np.asarray(hdr_info.affine))

        rep("load", 0.0)
        _import_ahead(settings)
        dwi = dwi_file.result(keep_data=True)
    if dwi.data.shape != tuple(hdr_info.shape):
        raise DiffusionInputError("dwi", "the image data do not match its header.")
    affine, header = dwi.affine, dwi.header

    res = _compute(
        dwi.data,
        summary_in.bvals,
        summary_in.bvecs,
        settings,
        rep,
        zooms=hdr_info.zooms,
        labels=labels,
        label_names=names,
        mask=None,
    )
    dwi.data = None

    rep("save", 0.0)
    out_dir = os.path.abspath(str(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    m = res.maps
    arrays = {
        "fa": m.fa,
        "md": m.md,
        "ad": m.ad,
        "rd": m.rd,
        "color_fa": m.color_fa,
        "mask": res.mask.astype(np.uint8),
        "b0": res.b0_mean.astype(np.float32),
    }
    maps_out = {}
    from concurrent.futures import ThreadPoolExecutor

    # gzip (ISA-L) releases the GIL: write the maps in the background while the
    # previews are rendered.
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {
        k: pool.submit(save_nifti, a, affine, os.path.join(out_dir, MAP_FILES[k]), header) for k, a in arrays.items()
    }
    extra_files = {}
    if profile == "full":
        p = os.path.join(out_dir, "bvecs_rotated.bvec")
        with open(p, "w") as fh:
            for row in np.asarray(res.bvecs).T:
                fh.write(" ".join(f"{v:.8f}" for v in row) + "\n")
        extra_files["bvecs_rotated"] = p

    previews_out = {}
    try:
        if settings.previews:
            rep("previews", 0.0)
            from .preview import ENGLISH, save_color_fa_preview, save_fa_preview

            languages = (("", ENGLISH), *settings.preview_languages)
            for done, (code, words) in enumerate(languages):
                suffix = f"_{code}" if code else ""
                for kind, draw in (("fa", save_fa_preview), ("color_fa", save_color_fa_preview)):
                    name = PREVIEW_FILES[kind].replace(".png", f".{code}.png" if code else ".png")
                    previews_out[kind + suffix] = draw(
                        getattr(m, kind), os.path.join(out_dir, name), affine=affine, mask=res.mask, words=words
                    )
                rep("previews", (done + 1) / len(languages))
        for k, f in futures.items():
            maps_out[k] = f.result()
    finally:
        pool.shutdown(wait=True)
    maps_out.update(extra_files)
    rep("previews", 1.0)
    rep("results", 0.0)

    finished = _dt.datetime.now(_dt.UTC)
    provenance = {
        "pipeline": "imaging.dti",
        "pipeline_version": PIPELINE_VERSION,
        "versions": _versions(),
        "parameters": res.parameters,
        "inputs": {
            "dwi": {
                **_file_entry(dwi_path, dwi.sha256),
                "shape": list(hdr_info.shape),
                "zooms_mm": list(hdr_info.zooms),
                "dtype": hdr_info.dtype,
            },
            "bval": _file_entry(bval_path),
            "bvec": _file_entry(bvec_path),
            "labels": _file_entry(labels_path),
        },
        "gradients": summary_in.gradients,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": finished.isoformat(timespec="seconds"),
        "runtime_s": round(time.perf_counter() - t_start, 3),
        "stage_timings_s": dict(rep.timings),
    }
    if res.motion is not None:
        provenance["bvecs_rotated"] = [[round(float(v), 8) for v in row] for row in res.bvecs]
    qc, summ, rois = _clean(res.qc), _clean(res.summary), _clean(res.rois)
    provenance = _clean(provenance)
    results = {
        "qc": qc,
        "summary": summ,
        "rois": rois,
        "provenance": provenance,
        "files": {
            **{k: os.path.basename(v) for k, v in maps_out.items()},
            **{f"preview_{k}": os.path.basename(v) for k, v in previews_out.items()},
        },
    }
    results_path = os.path.join(out_dir, "results.json")
    tmp = results_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1, allow_nan=False, default=_json_default)
    os.replace(tmp, results_path)
    rep.finish()
    return PipelineResult(
        out_dir=out_dir,
        maps=maps_out,
        previews=previews_out,
        results_json=results_path,
        qc=qc,
        summary=summ,
        rois=rois,
        provenance=provenance,
        timings=dict(rep.timings),
    )


def _clean(o):
    """Plain JSON data: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, (np.bool_, bool)):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (float, np.floating)):
        f = float(o)
        return f if np.isfinite(f) else None
    return o


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
