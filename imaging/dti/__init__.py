"""Diffusion-tensor imaging (DTI) pipeline for the registry.

Plain Python over numpy / nibabel / dipy (no Django, no Celery). Functions
take and return arrays; file I/O is at the edges.

Main entry points
-----------------
run_pipeline(dwi_path, bval_path, bvec_path, out_dir, settings=None, *,
             labels_path=None, label_names=None, progress=None) -> PipelineResult
    Files in, maps/previews/results.json out.
PipelineSettings(profile="standard", fit_method="WLS", b0_threshold=B0_THRESHOLD, ...)
    How a scan is processed (frozen; one object instead of keyword lists).
validate_inputs(dwi_path, bval_path, bvec_path, ...) -> InputSummary
    Cheap header + b-value/b-vector validation (no voxel data read).
stream_dwi(dwi_path, keep_data=...) -> StreamedDWI
    One streaming pass: integrity + NaN/inf check + SHA-256 (+ the data).
sha256_file(path) -> str
    The SHA-256 of a file, as stored for every upload and result.
process_dwi(data, bvals, bvecs, settings=None, ...) -> ProcessResult
    The pipeline on arrays.
fit_dti(data, gtab, mask, method) -> DTIMaps
    Vectorised WLS/OLS tensor fit (matches dipy's TensorModel).
region_stats(labels, fa, md, mask=None, label_names=None) -> list[dict]
make_phantom(shape, n_b0, n_dirs, snr, fa_boost, seed) -> Phantom
preload()
    Import what a standard run needs (nibabel, Pillow) once at worker start.

Units: b-values in s/mm^2, diffusivities (MD, AD, RD) in mm^2/s.
Command line: ``python -m imaging.dti DWI --bval B --bvec V --out DIR``.
"""

from .errors import DiffusionInputError
from .gradients import make_gradient_table, read_bvals, read_bvecs, validate_gradients
from .io import (
    InputLimits,
    InputSummary,
    StreamedDWI,
    inspect_dwi_header,
    load_labels,
    parse_label_names,
    sha256_file,
    stream_dwi,
    validate_inputs,
)
from .mask import brain_mask, mean_b0
from .phantom import Phantom, make_phantom
from .pipeline import (
    PIPELINE_VERSION,
    PipelineResult,
    PipelineSettings,
    ProcessResult,
    preload,
    process_dwi,
    run_pipeline,
)
from .qc import QCThresholds, estimate_snr, summarize
from .register import Registration, RegistrationSettings, carry_labels, register_fa, resample_labels, similarity
from .roi import region_stats
from .tensor import DTIMaps, color_fa, fit_dti

__version__ = PIPELINE_VERSION

__all__ = [
    "DiffusionInputError",
    "InputLimits",
    "InputSummary",
    "inspect_dwi_header",
    "validate_inputs",
    "stream_dwi",
    "StreamedDWI",
    "sha256_file",
    "load_labels",
    "parse_label_names",
    "read_bvals",
    "read_bvecs",
    "validate_gradients",
    "make_gradient_table",
    "mean_b0",
    "brain_mask",
    "fit_dti",
    "DTIMaps",
    "color_fa",
    "estimate_snr",
    "summarize",
    "QCThresholds",
    "region_stats",
    "resample_labels",
    "register_fa",
    "carry_labels",
    "similarity",
    "Registration",
    "RegistrationSettings",
    "process_dwi",
    "ProcessResult",
    "run_pipeline",
    "PipelineSettings",
    "PipelineResult",
    "preload",
    "make_phantom",
    "Phantom",
    "PIPELINE_VERSION",
    "__version__",
]
