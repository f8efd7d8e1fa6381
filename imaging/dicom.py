"""DICOM-zip ingestion: a zipped diffusion series in, NIfTI + .bval + .bvec out.

Plain Python (no Django). :func:`convert_zip` is the entry point:

1. the zip is checked *before anything is written*: it must be a readable zip,
   without encrypted members, without paths escaping its folder (absolute
   paths, ``..`` components, drive letters, symbolic links), with at most
   ``max_files`` members, a declared unpacked size of at most ``max_bytes``
   and a plausible compression ratio (zip bombs);
2. members are streamed into ``out_dir/dicom`` under generated flat names
   (``000001``, ``000002``...; the archive's own names are never used as
   paths), counting the bytes really written, so a lying header cannot exceed
   ``max_bytes``; CRC errors abort;
3. DICOM files are recognised by content (``DICM`` at byte 128, or a
   preamble-less file that pydicom parses as a DICOM data set); other files
   are deleted;
4. dcm2niix converts them into ``out_dir/nifti`` (``-g i -i y -b n -z y``:
   ignore any user defaults file, skip derived/localizer images, no JSON
   sidecar, gzip) under a timeout; its process group is killed on timeout;
5. among the converted series, the *diffusion* series are those with a
   .bval/.bvec holding at least one b above the pipeline's b0 threshold
   (:data:`imaging.dti.gradients.B0_THRESHOLD`) with a non-zero direction.
   Non-diffusion series (e.g. a T1 in the same zip) are ignored. Exactly one
   diffusion series must remain: several are refused (one series per zip,
   we do not guess which one the radiologist meant); none is refused.

The chosen series is moved to ``out_dir/dwi.nii.gz``, ``dwi.bval``,
``dwi.bvec``. ``out_dir/nifti`` is removed; ``out_dir/dicom`` (holding
identifiable DICOM) is kept only with ``keep_dicom=True``. On failure both
work folders are removed.

B-vectors are as dcm2niix writes them: FSL convention, in the image axes of
the NIfTI (``tests/imaging/dicom_synth.py``, which writes the synthetic series the tests
convert, documents the exact mapping).

Every refusal is a :class:`~imaging.dti.errors.DiffusionInputError` with
``field == "dicom_zip"`` and a sentence a radiologist can act on; the raw
dcm2niix log goes to this module's logger only. A missing dcm2niix binary is
a server fault: :class:`RuntimeError`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from imaging.dti.errors import DiffusionInputError
from imaging.dti.gradients import B0_THRESHOLD

__all__ = [
    "FIELD",
    "DEFAULT_TIMEOUT",
    "MAX_COMPRESSION_RATIO",
    "convert_zip",
    "safe_extract_zip",
    "find_dicom_files",
    "is_dicom_file",
    "find_dcm2niix",
]

log = logging.getLogger(__name__)

FIELD = "dicom_zip"
DEFAULT_TIMEOUT = 300.0
#: Largest accepted ratio (total unpacked / total packed) once the archive
#: unpacks to more than RATIO_FLOOR_BYTES. Real DICOM deflates about 2-10x;
#: deflate tops out near 1030x.
MAX_COMPRESSION_RATIO = 100.0
RATIO_FLOOR_BYTES = 1 << 20

_CHUNK = 1 << 20
_DICOMDIR_UID = "1.2.840.10008.1.3.10"
_DRIVE = re.compile(r"^[A-Za-z]:")

_MSG_REEXPORT = "Export the diffusion series from the scanner or PACS again, zip it and upload the new file."


def _refuse(message: str) -> DiffusionInputError:
    return DiffusionInputError(FIELD, message)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e6:.1f} MB"


# --------------------------------------------------------------------------- zip


def _escapes(info: zipfile.ZipInfo) -> bool:
    """True if a member is absolute, has '..', a drive letter, or is a symlink."""
    for name in {info.filename, info.orig_filename}:
        norm = name.replace("\\", "/")
        if norm.startswith("/") or _DRIVE.match(norm) or "\x00" in name:
            return True
        if any(part == ".." for part in norm.split("/")):
            return True
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def _check_archive(zf: zipfile.ZipFile, max_bytes: int, max_files: int, max_ratio: float) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > max_files:
        raise _refuse(
            f"The zip holds {len(infos):,} files, more than the {max_files:,} allowed. "
            "Zip only the diffusion (DTI) series, not the whole study, and upload it again."
        )
    if any(_escapes(i) for i in infos):
        raise _refuse(
            "The zip contains paths escaping its folder (absolute paths, '..' components, "
            "drive letters or symbolic links), so it was not unpacked. Re-create the zip "
            "from the exported DICOM folder with a standard zip tool and upload it again."
        )
    if any(i.flag_bits & 0x1 for i in infos):
        raise _refuse(
            "The zip is password-protected (encrypted). Create the zip again without a password and upload it."
        )
    files = [i for i in infos if not i.is_dir()]
    total = sum(i.file_size for i in files)
    packed = sum(i.compress_size for i in files)
    if total > max_bytes:
        raise _refuse(
            f"The zip unpacks to {_mb(total)}, more than the {_mb(max_bytes)} allowed. "
            "Zip only the diffusion (DTI) series, not the whole study, and upload it again."
        )
    if total > RATIO_FLOOR_BYTES and total > max_ratio * max(packed, 1):
        raise _refuse(
            f"The zip is compressed about {total / max(packed, 1):,.0f} times, far more than "
            "DICOM images allow; this is typical of a damaged or malicious archive, so it "
            f"was not unpacked. {_MSG_REEXPORT}"
        )
    return files


def safe_extract_zip(
    zip_path, dest, *, max_bytes: int, max_files: int = 20000, max_ratio: float = MAX_COMPRESSION_RATIO
) -> list[Path]:
    """Check and stream-extract ``zip_path`` into ``dest`` under flat generated names.

    Nothing is written unless the whole archive passes the checks; at most
    ``max_bytes`` bytes are ever written (a member that turns out larger than
    declared aborts the extraction and its partial file is removed).

    Returns the written paths. Raises DiffusionInputError (field dicom_zip).
    """
    dest = Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            raise
        raise _refuse(
            "The uploaded file is not a valid zip archive (it is damaged, incomplete or "
            f"another format). {_MSG_REEXPORT}"
        ) from exc
    written: list[Path] = []
    with zf:
        files = _check_archive(zf, max_bytes, max_files, max_ratio)
        dest.mkdir(parents=True, exist_ok=True)
        total = 0
        try:
            for n, info in enumerate(files, 1):
                target = dest / f"{n:06d}"
                with zf.open(info) as src, open(target, "xb") as out:
                    written.append(target)
                    member_bytes = 0
                    while chunk := src.read(_CHUNK):
                        member_bytes += len(chunk)
                        total += len(chunk)
                        if total > max_bytes or member_bytes > info.file_size:
                            raise _refuse(
                                f"The zip unpacks to more than the {_mb(max_bytes)} allowed (its "
                                "headers understate the size, a sign of a damaged or malicious "
                                "archive), so unpacking was stopped. Zip only the diffusion (DTI) "
                                "series and upload it again."
                            )
                        out.write(chunk)
        except BaseException as exc:
            for p in written:  # leave nothing half-unpacked behind
                p.unlink(missing_ok=True)
            if isinstance(exc, DiffusionInputError):
                raise
            if isinstance(exc, NotImplementedError):
                raise _refuse(
                    "The zip uses a compression method that is not supported. Create "
                    'the zip again with a standard zip tool ("deflate" compression) '
                    "and upload it."
                ) from exc
            if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError, ValueError)):
                raise _refuse(
                    f"The zip archive is damaged (a file failed its integrity check while unpacking). {_MSG_REEXPORT}"
                ) from exc
            raise
    return written


# ------------------------------------------------------------------------- DICOM


def is_dicom_file(path) -> bool:
    """True if ``path`` is a DICOM image file (not a DICOMDIR), judged by content.

    Part-10 files have ``DICM`` at byte 128. Files without the preamble are
    accepted only if they start with a group 0002/0008 element and pydicom
    reads them as a data set with a SOP Class UID or a Modality.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) == 132 and head[128:132] == b"DICM":
        return not _is_dicomdir(path)
    if len(head) < 8 or int.from_bytes(head[:2], "little") not in (0x0002, 0x0008):
        return False
    try:
        import pydicom

        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        ok = ("SOPClassUID" in ds or "Modality" in ds) and ds.get("SOPClassUID") != _DICOMDIR_UID
    except Exception:  # noqa: BLE001 - anything unreadable is "not DICOM"
        return False
    return bool(ok)


def _is_dicomdir(path) -> bool:
    try:
        import pydicom

        meta = pydicom.filereader.read_file_meta_info(path)
        return str(meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR_UID
    except Exception:  # noqa: BLE001
        return False


def find_dicom_files(paths) -> list[Path]:
    """The DICOM image files among ``paths`` (see :func:`is_dicom_file`)."""
    return [Path(p) for p in paths if is_dicom_file(p)]


# ----------------------------------------------------------------------- dcm2niix


def find_dcm2niix() -> str:
    """Path of the dcm2niix executable.

    Looks next to ``sys.executable`` (the venv's ``bin``), then on ``PATH``,
    then in the ``dcm2niix`` Python package. Raises RuntimeError if absent
    (a server installation fault, not the uploader's).
    """
    here = Path(sys.executable).parent / "dcm2niix"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("dcm2niix")
    if found:
        return found
    try:
        import dcm2niix as _pkg

        p = Path(_pkg.bin_path)
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    except ImportError:
        pass
    raise RuntimeError("dcm2niix is not installed (pip install dcm2niix).")


def _run_dcm2niix(dicom_dir: Path, nifti_dir: Path, timeout: float) -> tuple[int, str]:
    cmd = [
        find_dcm2niix(),
        "-g",
        "i",
        "-i",
        "y",
        "-b",
        "y",
        "-z",
        "y",
        "-f",
        "dwi_%s",
        "-o",
        str(nifti_dir),
        str(dicom_dir),
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:  # the venv entry point is a Python wrapper: kill the whole group
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        log.warning("dcm2niix timed out after %s s on %s", timeout, dicom_dir)
        raise _refuse(
            f"Converting the DICOM series took longer than the allowed {timeout:g} s and "
            "was stopped. Make sure the zip holds only the diffusion series, not the whole "
            "study, and upload it again."
        ) from None
    text = out.decode("utf-8", "replace")
    return proc.returncode, text


_DCM2NIIX_ERRORS = {
    2: "The DICOM files in the zip hold no images that can be converted (for example only "
    "reports, dose sheets or derived maps). Export the original diffusion (DTI) image series "
    "and upload it again.",
    4: "Some DICOM files in the zip are damaged and could not be read. " + _MSG_REEXPORT,
    10: "The diffusion series is incomplete: some slices are missing from at least one volume. "
    "Export the complete series (all images) and upload it again.",
}


def _read_numbers(path: Path) -> np.ndarray:
    rows = [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line.strip()]
    return np.array(rows, dtype=np.float64)


def _series_info(nii: Path):
    """(n_volumes, is_diffusion, bval, bvec) for one converted image."""
    import nibabel as nib

    stem = nii.name[: -len(".nii.gz")] if nii.name.endswith(".nii.gz") else nii.stem
    bval, bvec = nii.with_name(stem + ".bval"), nii.with_name(stem + ".bvec")
    shape = nib.load(str(nii)).shape
    n_vol = shape[3] if len(shape) >= 4 else 1
    if not (bval.is_file() and bvec.is_file()):
        return n_vol, False, None, None
    try:
        b = _read_numbers(bval).reshape(-1)
        g = _read_numbers(bvec)
        if g.shape[0] != 3 and g.shape[-1] == 3:
            g = g.T
        g = g.reshape(3, -1)
    except ValueError:
        return n_vol, False, None, None
    dw = b > B0_THRESHOLD
    is_dwi = (
        len(shape) == 4
        and b.size == n_vol
        and g.shape[1] == n_vol
        and bool(dw.any())
        and bool(np.all(np.linalg.norm(g[:, dw], axis=0) > 0.5))
    )
    return n_vol, is_dwi, bval, bvec


def convert_zip(
    zip_path,
    out_dir,
    *,
    max_bytes: int,
    max_files: int = 20000,
    timeout: float = DEFAULT_TIMEOUT,
    max_ratio: float = MAX_COMPRESSION_RATIO,
    keep_dicom: bool = True,
) -> tuple[Path, Path, Path]:
    """Convert a zipped DICOM diffusion series into ``(dwi.nii.gz, dwi.bval, dwi.bvec)``.

    Parameters
    ----------
    zip_path : path
        The uploaded zip.
    out_dir : path
        Created if missing. ``out_dir/dicom`` and ``out_dir/nifti`` must not
        exist yet (or be empty), nor ``out_dir/dwi.*``.
    max_bytes : int
        Largest total unpacked size (bytes really written, not just declared).
    max_files : int
        Largest number of zip members (folders included).
    timeout : float
        Seconds allowed for dcm2niix.
    max_ratio : float
        Largest accepted overall compression ratio (zip bomb heuristic).
    keep_dicom : bool
        Keep the extracted DICOM in ``out_dir/dicom`` on success.

    Returns
    -------
    (dwi_path, bval_path, bvec_path) : Paths inside ``out_dir``.

    Raises
    ------
    DiffusionInputError
        ``field == "dicom_zip"``, for anything wrong with the upload.
    RuntimeError
        dcm2niix is not installed.
    FileExistsError
        ``out_dir`` already holds a conversion.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dicom_dir, nifti_dir = out_dir / "dicom", out_dir / "nifti"
    final = (out_dir / "dwi.nii.gz", out_dir / "dwi.bval", out_dir / "dwi.bvec")
    for d in (dicom_dir, nifti_dir):
        if d.exists() and (not d.is_dir() or any(d.iterdir())):
            raise FileExistsError(f"{d} already exists and is not empty")
    for f in final:
        if f.exists():
            raise FileExistsError(f"{f} already exists")
    find_dcm2niix()  # fail early on a broken installation, before unpacking

    ok = False
    try:
        written = safe_extract_zip(zip_path, dicom_dir, max_bytes=max_bytes, max_files=max_files, max_ratio=max_ratio)
        dicoms = set(find_dicom_files(written))
        for p in written:
            if p not in dicoms:
                p.unlink()
        if not dicoms:
            raise _refuse(
                "The zip holds no DICOM files (the image files exported from the scanner "
                "or PACS). Export the diffusion series in DICOM format, zip the folder "
                "and upload it again."
            )
        nifti_dir.mkdir(parents=True, exist_ok=True)
        rc, text = _run_dcm2niix(dicom_dir, nifti_dir, timeout)
        niftis = sorted(nifti_dir.glob("*.nii.gz"))
        if rc != 0:
            log.warning("dcm2niix exit %s on %s:\n%s", rc, zip_path, text[-4000:])
        if rc not in (0, 8) or not niftis:
            if rc != 0 and "missing images" in text.lower():
                rc = 10  # dcm2niix reports gaps in the slice stack with exit 1 too
            raise _refuse(
                _DCM2NIIX_ERRORS.get(
                    rc,
                    "The DICOM files could not be converted into an image volume. Check that the "
                    "zip holds one complete diffusion series exported from the scanner, and "
                    "upload it again.",
                )
            )
        infos = [(p, *_series_info(p)) for p in niftis]
        dwis = [t for t in infos if t[2]]
        if not dwis:
            raise _refuse(
                "The DICOM series has no diffusion information (b-values and gradient "
                "directions). Export the original diffusion-weighted (DTI) series, not "
                "derived maps such as ADC, FA or trace images, and upload it again."
            )
        if len(dwis) > 1:
            vols = sorted((t[1] for t in dwis), reverse=True)
            vols_txt = ", ".join(map(str, vols[:-1])) + f" and {vols[-1]}"
            raise _refuse(
                f"The zip holds {len(dwis)} diffusion series ({vols_txt} volumes). "
                "Upload one diffusion series per zip, exporting each series separately."
            )
        nii, _n, _ok, bval, bvec = dwis[0]
        sidecar = bval.with_suffix(".json")
        if sidecar.is_file():  # the scanner and timing, read by scanner_details
            os.replace(sidecar, out_dir / "dwi.json")
        for src, dst in zip((nii, bval, bvec), final):
            os.replace(src, dst)
        ok = True
        return final
    finally:
        shutil.rmtree(nifti_dir, ignore_errors=True)
        if not ok or not keep_dicom:
            shutil.rmtree(dicom_dir, ignore_errors=True)


# dcm2niix's sidecar (BIDS) keys -> the acquisition summary's (imaging.dti.acquisition); seconds to ms.
_SIDECAR_KEYS = {
    "Manufacturer": ("manufacturer", None),
    "ManufacturersModelName": ("model", None),
    "MagneticFieldStrength": ("field_strength", None),
    "RepetitionTime": ("repetition_time", 1000.0),
    "EchoTime": ("echo_time", 1000.0),
}


def scanner_details(sidecar) -> dict:
    """The scanner (manufacturer, model, field strength in T) and timing (TR, TE in ms) of a converted
    series, from the sidecar ``convert_zip`` leaves beside it; {} when there is none or it is unreadable."""
    import json

    try:
        header = json.loads(Path(sidecar).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    details = {}
    for key, (name, scale) in _SIDECAR_KEYS.items():
        value = header.get(key) if isinstance(header, dict) else None
        if isinstance(value, str) and value.strip() and scale is None:
            details[name] = value.strip()[:100]
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
            details[name] = round(float(value) * (scale or 1.0), 3)
    return details
