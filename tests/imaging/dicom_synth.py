"""Synthetic DICOM diffusion series for the DICOM-zip tests (reached through the `dicom_synth` fixture).

Plain Python over numpy and pydicom (no Django). Writes a *classic*
single-frame MR Image Storage series (one file per slice per volume), the
layout most scanners and PACS export, and zips it like a PACS export.

What dcm2niix needs (checked against dcm2niix v1.0.20260724)
------------------------------------------------------------
Only standard DICOM attributes are written:

* (0018,9087) DiffusionBValue (FD), on every image, 0 for b0 images;
* (0018,9089) DiffusionGradientOrientation (FD x 3), on diffusion-weighted
  images only, a unit vector in the patient (LPS) coordinate system;
* (0018,9075) DiffusionDirectionality (CS) ``DIRECTIONAL`` / ``NONE``;
* ImageType ``ORIGINAL\\PRIMARY\\DIFFUSION\\NONE``.

dcm2niix reads these top-level tags for the ``SIEMENS`` (XA-style) and
``Philips`` vendor paths (Manufacturer (0008,0070)); with an empty or unknown
Manufacturer it warns once per file ("assuming Philips") and still reads them.
``GE MEDICAL SYSTEMS`` and ``Canon`` are *not* suitable: dcm2niix treats their
gradients as being in a different frame (and wants 0018,1312); ``UIH`` ignores
the tags (all-zero b-vectors). The default is therefore ``SIEMENS``.

Without ``diffusion`` the b-value/gradient tags are left out and ImageType is
``ORIGINAL\\PRIMARY\\M\\ND``: dcm2niix then writes no .bval/.bvec at all.
(Leaving only the tags out but keeping ``DIFFUSION`` in ImageType makes
dcm2niix write all-zero .bval/.bvec files instead.)

Geometry and the b-vector convention of the converted NIfTI
-----------------------------------------------------------
``data[i, j, k, v]``: ``i`` runs along the row direction cosine ``r``
(``orientation[:3]``, the DICOM column index), ``j`` along the column
direction cosine ``c`` (``orientation[3:]``, the DICOM row index), ``k`` along
the slice normal ``n = r x c`` (ImagePositionPatient = origin + k * dz * n).

dcm2niix flips the DICOM rows, so the converted image is
``nifti[:, ::-1, :, v] == data[:, :, :, v]`` and its affine always has a
negative determinant. Its .bvec is in FSL convention (image axes, x negated
only when det(affine) > 0, which therefore never happens here), i.e. for a
gradient ``g`` in DICOM LPS::

    bvec = (g . r, -(g . c), g . n)

(the ``y`` flip is the row flip). For an axial series (orientation
``(1,0,0, 0,1,0)``) that is ``(gx, -gy, gz)``. :func:`expected_fsl_bvecs`
computes it; the unit tests assert it for axial and oblique series.
"""

from __future__ import annotations

import datetime as _dt
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = [
    "AXIAL",
    "write_dwi_series",
    "zip_folder",
    "voxel_to_patient_bvecs",
    "expected_fsl_bvecs",
    "make_demo_zip",
]

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _frame(orientation):
    o = np.asarray(orientation, dtype=np.float64).reshape(6)
    r, c = o[:3], o[3:]
    if not (
        np.isclose(np.linalg.norm(r), 1, atol=1e-4)
        and np.isclose(np.linalg.norm(c), 1, atol=1e-4)
        and abs(float(r @ c)) < 1e-4
    ):
        raise ValueError("orientation must be two orthonormal direction cosines (6 numbers)")
    return r, c, np.cross(r, c)


def voxel_to_patient_bvecs(bvecs, orientation=AXIAL) -> np.ndarray:
    """Map ``(N, 3)`` b-vectors given in the ``data`` voxel axes (i, j, k) to
    DICOM patient (LPS) gradient directions for :func:`write_dwi_series`."""
    r, c, n = _frame(orientation)
    return np.asarray(bvecs, dtype=np.float64) @ np.stack([r, c, n])


def expected_fsl_bvecs(bvecs_patient, orientation=AXIAL) -> np.ndarray:
    """The ``(N, 3)`` b-vectors dcm2niix writes for gradients ``bvecs_patient``
    (LPS): ``(g.r, -(g.c), g.n)`` (see the module docstring)."""
    r, c, n = _frame(orientation)
    g = np.asarray(bvecs_patient, dtype=np.float64)
    return np.stack([g @ r, -(g @ c), g @ n], axis=1)


def _pixel_encoding(data: np.ndarray):
    """Return (stored int array, dtype str, pixel_representation, slope)."""
    if data.dtype.kind in "ui" and data.size and data.min() >= 0 and data.max() <= 65535:
        return data.astype("<u2"), 0, 1.0
    if data.dtype.kind in "ui" and data.size and data.min() >= -32768 and data.max() <= 32767:
        return data.astype("<i2"), 1, 1.0
    if not np.all(np.isfinite(data)):
        raise ValueError("data must be finite")
    lo, hi = float(data.min()), float(data.max())
    if lo >= 0:
        slope = hi / 65535.0 if hi > 0 else 1.0
        return np.clip(np.rint(data / slope), 0, 65535).astype("<u2"), 0, slope
    slope = max(abs(lo), abs(hi)) / 32767.0
    return np.clip(np.rint(data / slope), -32768, 32767).astype("<i2"), 1, slope


def write_dwi_series(
    folder,
    data,
    bvals=None,
    bvecs=None,
    *,
    voxel_size=(2.0, 2.0, 2.0),
    orientation=AXIAL,
    origin=(0.0, 0.0, 0.0),
    manufacturer: str = "SIEMENS",
    diffusion: bool = True,
    series_number: int = 1,
    series_description: str = "DTI synthetic",
    patient_id: str = "SYNTH0001",
    patient_name: str = "Synthetic^Phantom",
    study_uid: str | None = None,
    prefix: str = "IM",
) -> list[Path]:
    """Write a classic single-frame MR DICOM series (one file per slice per volume).

    Parameters
    ----------
    folder : path
        Created if missing; files are named ``<prefix><n:05d>.dcm``.
    data : array (X, Y, Z, N)
        Integer data in the uint16/int16 range are stored as is; anything else
        (e.g. float) is scaled to 16 bits with a global RescaleSlope.
    bvals : (N,) s/mm^2, bvecs : (N, 3)
        Gradient directions in DICOM patient coordinates (LPS); use
        :func:`voxel_to_patient_bvecs` for directions in the data axes. Ignored
        (may be None) when ``diffusion`` is False.
    voxel_size : (dx, dy, dz) mm
        dx along the rows (``orientation[:3]``), dy along the columns, dz
        between slices.
    orientation : 6 floats
        ImageOrientationPatient (row then column direction cosines, LPS).
    origin : 3 floats
        ImagePositionPatient of the first slice (LPS, mm).
    manufacturer : str
        (0008,0070). ``SIEMENS`` or ``Philips Medical Systems`` (see module doc).
    diffusion : bool
        False writes the same images without any diffusion attributes.

    Returns
    -------
    list of Path, in instance order.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    data = np.asarray(data)
    if data.ndim != 4:
        raise ValueError("data must be 4D (X, Y, Z, volumes)")
    nx, ny, nz, nv = data.shape
    if diffusion:
        bvals = np.asarray(bvals, dtype=np.float64).reshape(-1)
        bvecs = np.asarray(bvecs, dtype=np.float64).reshape(-1, 3)
        if bvals.shape[0] != nv or bvecs.shape[0] != nv:
            raise ValueError("need one b-value and one b-vector per volume")
    r, c, n = _frame(orientation)
    dx, dy, dz = (float(v) for v in voxel_size)
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    stored, pixel_rep, slope = _pixel_encoding(data)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study_uid = study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), generate_uid()
    now = _dt.datetime(2024, 1, 1, 12, 0, 0)
    paths = []
    inst = 0
    for v in range(nv):
        acq = now + _dt.timedelta(seconds=5 * v)
        for k in range(nz):
            inst += 1
            sop_uid = generate_uid()
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = _MR_IMAGE_STORAGE
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = Dataset()
            ds.file_meta = meta
            ds.SpecificCharacterSet = "ISO_IR 100"
            ds.ImageType = (
                ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"] if diffusion else ["ORIGINAL", "PRIMARY", "M", "ND"]
            )
            ds.SOPClassUID = _MR_IMAGE_STORAGE
            ds.SOPInstanceUID = sop_uid
            ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = now.strftime("%Y%m%d")
            ds.StudyTime = ds.SeriesTime = now.strftime("%H%M%S")
            ds.AcquisitionTime = ds.ContentTime = acq.strftime("%H%M%S.%f")
            ds.Modality = "MR"
            ds.Manufacturer = manufacturer
            ds.ManufacturerModelName = "Synthetic"
            ds.StudyDescription = "Synthetic brain MRI"
            ds.SeriesDescription = series_description
            ds.ProtocolName = series_description
            ds.PatientName = patient_name
            ds.PatientID = patient_id
            ds.BodyPartExamined = "BRAIN"
            ds.ScanningSequence = "EP"
            ds.SequenceVariant = ["SK", "SS"]
            ds.MRAcquisitionType = "2D"
            ds.SliceThickness = dz
            ds.SpacingBetweenSlices = dz
            ds.RepetitionTime = 5000.0
            ds.EchoTime = 80.0
            ds.MagneticFieldStrength = 3.0
            ds.InPlanePhaseEncodingDirection = "COL"
            ds.PatientPosition = "HFS"
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.FrameOfReferenceUID = frame_uid
            ds.StudyID = "1"
            ds.SeriesNumber = int(series_number)
            ds.AcquisitionNumber = 1
            ds.InstanceNumber = inst
            pos = origin + k * dz * n
            ds.ImagePositionPatient = [round(float(x), 6) for x in pos]
            ds.ImageOrientationPatient = [round(float(x), 8) for x in (*r, *c)]
            ds.SliceLocation = round(float(pos @ n), 6)
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows = ny
            ds.Columns = nx
            ds.PixelSpacing = [dy, dx]  # (row spacing, column spacing)
            ds.BitsAllocated = 16
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = pixel_rep
            ds.RescaleIntercept = 0
            ds.RescaleSlope = format(slope, ".10g")
            if diffusion:
                b = float(bvals[v])
                ds.add_new(0x00189087, "FD", b)  # DiffusionBValue
                if b > 0:
                    ds.add_new(0x00189075, "CS", "DIRECTIONAL")  # DiffusionDirectionality
                    ds.add_new(0x00189089, "FD", [float(x) for x in bvecs[v]])  # GradientOrientation
                else:
                    ds.add_new(0x00189075, "CS", "NONE")
            ds.PixelData = np.ascontiguousarray(stored[:, :, k, v].T).tobytes()
            path = folder / f"{prefix}{inst:05d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            paths.append(path)
    return paths


def zip_folder(folder, zip_path, *, arc_root: str | None = "DICOM") -> Path:
    """Zip every file under ``folder`` (deflate), like a PACS export.

    Archive names are the paths relative to ``folder``, under ``arc_root``
    (``None`` or ``""`` for none). Returns ``zip_path``.
    """
    folder, zip_path = Path(folder), Path(zip_path)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for dirpath, _dirs, files in os.walk(folder):
            for name in sorted(files):
                p = Path(dirpath) / name
                rel = p.relative_to(folder).as_posix()
                zf.write(p, f"{arc_root}/{rel}" if arc_root else rel)
    return zip_path


def make_demo_zip(zip_path, phantom, *, orientation=AXIAL, manufacturer: str = "SIEMENS", work_dir=None):
    """Zip a DICOM series of a DTI phantom (:func:`imaging.dti.make_phantom`).

    The phantom's voxel-axis b-vectors are mapped to patient coordinates, so
    the converted NIfTI is self-consistent (same FA, tract directions in its
    own axes). Returns ``zip_path``.
    """
    import shutil
    import tempfile

    vs = float(abs(phantom.affine[0, 0])) or 2.0
    tmp = Path(tempfile.mkdtemp(dir=work_dir, prefix="dicom_demo_"))
    try:
        write_dwi_series(
            tmp,
            phantom.data,
            phantom.bvals,
            voxel_to_patient_bvecs(phantom.bvecs, orientation),
            voxel_size=(vs, vs, vs),
            orientation=orientation,
            manufacturer=manufacturer,
        )
        zip_folder(tmp, zip_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Path(zip_path)
