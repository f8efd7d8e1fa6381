"""Input validation, loading and saving: the I/O edges of the pipeline.

Validation comes in two costs:

* :func:`validate_inputs` reads only the NIfTI header (a few hundred bytes,
  plus the 4-byte gzip trailer) and the b-value/b-vector text files. It
  checks format, dimensionality, size limits, volume/b-value/b-vector counts,
  b0 presence, number of directions and b-vector lengths.
* :func:`stream_dwi` reads the file once in chunks: it verifies that the gzip
  stream is complete and intact and that the data contain no NaN/inf, computes
  the file's SHA-256, and keeps the data as float32 if asked. Upload
  validation and the pipeline both use it.

gzip is read and written with ISA-L (python-isal's ``igzip``, the stdlib ``gzip`` interface):
2-3x faster to decompress and about 10x faster to compress than zlib at the same ratio
(measured on DWI data in ``tests/bench/bench_dti.py``); decompression and compression are a
large share of a run's time.

Every SHA-256 of a file goes through :class:`Sha256Reader` (:func:`sha256_file`).
All failures raise :class:`~imaging.dti.errors.DiffusionInputError` with the
offending ``field`` and a message meant for the person who uploaded the files.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import queue
import struct
import threading
import warnings
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np
from isal import igzip, isal_zlib

from .errors import DiffusionInputError
from .gradients import (
    B0_THRESHOLD,
    MAX_BVAL,
    MIN_DIRECTIONS,
    UNIT_TOLERANCE,
    read_bvals,
    read_bvecs,
    validate_gradients,
)

__all__ = [
    "InputLimits",
    "DWIHeaderInfo",
    "InputSummary",
    "inspect_dwi_header",
    "validate_inputs",
    "stream_dwi",
    "DWIFile",
    "StreamedDWI",
    "Sha256Reader",
    "sha256_file",
    "NonFiniteCount",
    "check_finite",
    "load_labels",
    "parse_label_names",
    "save_nifti",
]

_GZIP_MAGIC = b"\x1f\x8b"
CHUNK_BYTES = 16 * 1024 * 1024  # read size of every streaming pass
# ISA-L's levels are 0-3; its default 2 compresses the maps as well as zlib's level 6 (within 1 %)
# at about 10x zlib level 1's speed.
GZIP_LEVEL = 2
_GZIP_ERRORS = (EOFError, zlib.error, isal_zlib.error, gzip.BadGzipFile)


@dataclass(frozen=True)
class InputLimits:
    """Upper limits for an uploaded diffusion series (pass your own).

    Attributes
    ----------
    max_spatial_dim : int
        Largest allowed size of each of the three spatial dimensions.
    max_volumes : int
        Largest number of volumes (4th dimension).
    max_file_bytes : int
        Largest file size on disk (compressed size for .nii.gz).
    max_data_bytes : int
        Largest size of the data loaded as float32 (X*Y*Z*N*4 bytes), i.e. the
        memory the pipeline needs for the image.
    max_bval : float
        Largest b-value in s/mm^2 (see :data:`imaging.dti.gradients.MAX_BVAL`).
    max_voxel_mm : float
        Largest voxel edge in mm (header pixdim 1-3).
    """

    max_spatial_dim: int = 512
    max_volumes: int = 1000
    max_file_bytes: int = 4 * 1024**3
    max_data_bytes: int = 4 * 1024**3
    max_bval: float = MAX_BVAL
    # Diffusion MRI is acquired at about 1-3 mm (neonatal and low-field protocols up to ~5 mm,
    # thick slices up to ~10 mm); an edge above 20 mm is not a brain scan or a damaged header.
    max_voxel_mm: float = 20.0


@dataclass
class DWIHeaderInfo:
    """What the NIfTI header says (no voxel data read).

    ``shape`` is ``(X, Y, Z, N)``, ``zooms`` the voxel size in mm,
    ``affine`` the 4x4 voxel-to-world matrix (nested lists),
    ``data_bytes`` the size of the data as float32.
    """

    path: str
    shape: tuple
    zooms: tuple
    affine: list
    dtype: str
    file_bytes: int
    data_bytes: int
    compressed: bool
    vox_offset: int

    @property
    def n_volumes(self) -> int:
        return int(self.shape[3])


@dataclass
class InputSummary:
    """Result of :func:`validate_inputs` (JSON-serialisable via ``to_dict``)."""

    header: DWIHeaderInfo
    bvals: np.ndarray
    bvecs: np.ndarray
    gradients: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "header": asdict(self.header),
            "bvals": [float(b) for b in self.bvals],
            "bvecs": [[float(v) if np.isfinite(v) else None for v in row] for row in self.bvecs],
            "gradients": self.gradients,
        }


def _fmt_bytes(n) -> str:
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TB"


def _load_header(path):
    """nibabel image object (header only; data stays on disk) or raise."""
    import nibabel as nib

    name = os.path.basename(str(path))
    if not os.path.isfile(path):
        raise DiffusionInputError("dwi", f"the file {name!r} does not exist.")
    lower = name.lower()
    if not (lower.endswith(".nii") or lower.endswith(".nii.gz")):
        raise DiffusionInputError(
            "dwi",
            f"{name!r} is not a NIfTI file: the name must "
            "end in .nii or .nii.gz. Convert the DICOM series "
            "with dcm2niix.",
        )
    with open(path, "rb") as fh:
        head = fh.read(4)
    is_gz = head[:2] == _GZIP_MAGIC
    if lower.endswith(".gz") and not is_gz:
        raise DiffusionInputError(
            "dwi", f"{name!r} is named .nii.gz but is not gzip-compressed; rename it to .nii or re-export it."
        )
    if lower.endswith(".nii") and is_gz:
        raise DiffusionInputError("dwi", f"{name!r} is gzip-compressed but named .nii; rename it to .nii.gz.")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            img = nib.load(str(path))
            hdr = img.header
            shape = tuple(int(s) for s in img.shape)
            dtype = np.dtype(hdr.get_data_dtype())
            zooms = tuple(float(z) for z in hdr.get_zooms())
            affine = np.asarray(img.affine, dtype=float)
        problem = _header_problem(path, type(hdr)) if isinstance(hdr, nib.Nifti1Header) else None
    except DiffusionInputError:
        raise
    except _GZIP_ERRORS:
        raise DiffusionInputError(
            "dwi", f"{name!r} is truncated or corrupt (the compressed stream ends early). Upload the file again."
        ) from None
    except Exception:  # nibabel raises many types for garbage
        raise DiffusionInputError(
            "dwi", f"{name!r} is not a readable NIfTI image. Convert the DICOM series with dcm2niix."
        ) from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise DiffusionInputError("dwi", f"{name!r} is not a NIfTI-1/2 image.")
    # Only nibabel's own complaints about the file: a ResourceWarning or a deprecation notice raised while
    # nibabel runs (the garbage collector closing some other unclosed file, say) says nothing of the image.
    warned = [w for w in caught if "nibabel" in str(w.filename) and not issubclass(w.category, _NOT_ABOUT_THE_FILE)]
    if problem is None and warned:
        problem = str(warned[0].message).splitlines()[0][:120]
    if problem:
        raise DiffusionInputError(
            "dwi",
            f"{name!r} has a damaged NIfTI header ({problem}). Re-export the series from the scanner "
            "with dcm2niix; images whose header was edited or damaged are not accepted.",
        )
    return img, hdr, shape, dtype, zooms, affine, is_gz


_NOT_ABOUT_THE_FILE = (ResourceWarning, DeprecationWarning, PendingDeprecationWarning)


def _header_problem(path, header_class):
    """The first problem nibabel's own header checks find in the header as stored, or None.

    Loading an image repairs these (a wrong sizeof_hdr, zero or negative voxel sizes, ...) with
    only a log line, so the stored bytes are checked again without repair.
    """
    from nibabel.openers import ImageOpener

    with ImageOpener(str(path)) as fh:
        block = fh.read(header_class.template_dtype.itemsize)
    report = header_class.diagnose_binaryblock(block)
    return report.splitlines()[0] if report else None


def _gzip_isize(path) -> int | None:
    """Uncompressed size mod 2**32 from the gzip trailer (last 4 bytes)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() < 18:
            return None
        fh.seek(-4, os.SEEK_END)
        return struct.unpack("<I", fh.read(4))[0]


def _check_voxel_sizes(zooms, limits: InputLimits, name: str) -> None:
    sizes = " x ".join(f"{z:g}" for z in zooms)
    if not all(np.isfinite(z) and 0 < z <= limits.max_voxel_mm for z in zooms):
        raise DiffusionInputError(
            "dwi",
            f"{name!r} gives voxel sizes of {sizes} mm; each must be a positive number of at most "
            f"{limits.max_voxel_mm:g} mm. The header is damaged or this is not the diffusion series: "
            "re-export it from the scanner with dcm2niix.",
        )


def inspect_dwi_header(path, limits: InputLimits | None = None) -> DWIHeaderInfo:
    """Check a 4D diffusion NIfTI from its header only.

    Checks: name/format (.nii or .nii.gz, NIfTI-1/2), readable header that
    passes nibabel's header checks without repair and without warnings, 4D,
    numeric dtype, finite scaling, voxel sizes in (0, ``limits.max_voxel_mm``], the limits in
    ``limits``, and that the file is not truncated (file size for .nii, gzip
    trailer length for .nii.gz).

    Parameters
    ----------
    path : str or Path
    limits : InputLimits, optional
        Defaults to ``InputLimits()``.

    Returns
    -------
    DWIHeaderInfo

    Raises
    ------
    DiffusionInputError
        ``field="dwi"``.
    """
    limits = limits or InputLimits()
    path = str(path)
    name = os.path.basename(path)
    file_bytes = os.path.getsize(path) if os.path.isfile(path) else 0
    if file_bytes > limits.max_file_bytes:
        raise DiffusionInputError(
            "dwi", f"the file is {_fmt_bytes(file_bytes)}; the limit is {_fmt_bytes(limits.max_file_bytes)}."
        )
    img, hdr, shape, dtype, zooms, affine, is_gz = _load_header(path)
    ndim = len(shape)
    if ndim == 5 and shape[3] == 1 and shape[4] > 1:
        ndim = 5  # some converters; still not accepted below
    if ndim != 4:
        if ndim == 3:
            msg = (
                f"the image is 3D ({shape[0]}x{shape[1]}x{shape[2]}, a single "
                "volume). A diffusion series is 4D with one volume per b-value/"
                "direction; export the whole DTI series, not one volume."
            )
        else:
            msg = f"the image has {ndim} dimensions {shape}; a diffusion series must be 4D (x, y, z, volumes)."
        raise DiffusionInputError("dwi", msg)
    if dtype.kind not in "iuf" or dtype.fields is not None:
        raise DiffusionInputError(
            "dwi", f"the voxel type {dtype} is not supported (expected integer or floating point magnitude data)."
        )
    slope, inter = hdr.get_slope_inter()
    for v in (slope, inter):
        if v is not None and not np.isfinite(v):
            raise DiffusionInputError("dwi", "the header's intensity scaling (scl_slope/scl_inter) is not finite.")
    if not np.all(np.isfinite(affine)):
        raise DiffusionInputError("dwi", "the header's orientation matrix contains NaN or infinite values.")
    _check_voxel_sizes(zooms[:3], limits, name)
    X, Y, Z, N = shape
    if min(shape) < 1:
        raise DiffusionInputError("dwi", f"the image has an empty dimension {shape}.")
    if max(X, Y, Z) > limits.max_spatial_dim:
        raise DiffusionInputError(
            "dwi", f"the image is {X}x{Y}x{Z} voxels; each spatial dimension may be at most {limits.max_spatial_dim}."
        )
    if N > limits.max_volumes:
        raise DiffusionInputError("dwi", f"the image has {N} volumes; at most {limits.max_volumes} are accepted.")
    data_bytes = int(X) * Y * Z * N * 4
    if data_bytes > limits.max_data_bytes:
        raise DiffusionInputError(
            "dwi",
            f"the image needs {_fmt_bytes(data_bytes)} of "
            "memory as float32; the limit is "
            f"{_fmt_bytes(limits.max_data_bytes)}.",
        )
    vox_offset = int(img.dataobj.offset)
    expected = vox_offset + int(X) * Y * Z * N * dtype.itemsize
    if is_gz:
        isize = _gzip_isize(path)
        if isize is None or isize != expected % (2**32):
            raise DiffusionInputError(
                "dwi",
                f"{name!r} is truncated or corrupt: the "
                "gzip stream does not hold the "
                f"{_fmt_bytes(expected)} the header announces. "
                "Upload the file again.",
            )
    elif file_bytes < expected:
        raise DiffusionInputError(
            "dwi",
            f"{name!r} is truncated: the header announces "
            f"{_fmt_bytes(expected)} but the file has "
            f"{_fmt_bytes(file_bytes)}. Upload the file again.",
        )
    return DWIHeaderInfo(
        path=path,
        shape=(X, Y, Z, N),
        zooms=tuple(zooms[:3]),
        affine=affine.tolist(),
        dtype=str(dtype),
        file_bytes=int(file_bytes),
        data_bytes=data_bytes,
        compressed=is_gz,
        vox_offset=vox_offset,
    )


def validate_inputs(
    dwi_path,
    bval_path,
    bvec_path,
    *,
    b0_threshold: float = B0_THRESHOLD,
    unit_tolerance: float = UNIT_TOLERANCE,
    min_directions: int = MIN_DIRECTIONS,
    limits: InputLimits | None = None,
) -> InputSummary:
    """Cheap validation of a DWI series: header + b-values + b-vectors.

    Reads no voxel data (see :func:`stream_dwi` for the data check).

    Parameters
    ----------
    dwi_path, bval_path, bvec_path : str or Path
    b0_threshold : float
        b-values <= this (s/mm^2) are b0 volumes.
    unit_tolerance : float
        Allowed deviation of diffusion b-vector lengths from 1.
    min_directions : int
        Minimum distinct diffusion directions.
    limits : InputLimits, optional

    Returns
    -------
    InputSummary

    Raises
    ------
    DiffusionInputError
        ``field`` is ``"dwi"``, ``"bval"`` or ``"bvec"``.
    """
    limits = limits or InputLimits()
    info = inspect_dwi_header(dwi_path, limits)
    bvals = read_bvals(bval_path, limits.max_bval)
    bvecs = read_bvecs(bvec_path, info.n_volumes)
    grad = validate_gradients(
        bvals,
        bvecs,
        info.n_volumes,
        b0_threshold=b0_threshold,
        unit_tolerance=unit_tolerance,
        min_directions=min_directions,
        max_bval=limits.max_bval,
    )
    return InputSummary(header=info, bvals=bvals, bvecs=bvecs, gradients=grad)


class Sha256Reader:
    """A binary file that keeps the SHA-256 of every byte read through it.

    The one hasher of the registry: uploads while they are staged, the DWI while it is streamed,
    any stored file (:func:`sha256_file`) all go through it, so every stored hash is the same
    digest of the same bytes.
    """

    def __init__(self, fh):
        self._fh = fh
        self._hash = hashlib.sha256()

    def read(self, n=-1):
        b = self._fh.read(n)
        self._hash.update(b)
        return b

    def readinto(self, buf):
        n = self._fh.readinto(buf)
        if n:
            self._hash.update(memoryview(buf)[:n])
        return n

    def chunks(self, size: int = CHUNK_BYTES):
        """The rest of the file, ``size`` bytes at a time (all of it is hashed)."""
        while b := self.read(size):
            yield b

    def hexdigest(self) -> str:
        """SHA-256 (64 hex digits) of the bytes read so far."""
        return self._hash.hexdigest()

    def seekable(self):
        return False

    def readable(self):
        return True

    def close(self):
        pass


def sha256_file(source) -> str:
    """SHA-256 (hex) of a file's bytes, read in chunks.

    ``source`` is a path or a binary file object (read from its current position to the end).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return sha256_file(fh)
    reader = Sha256Reader(source)
    for _ in reader.chunks():
        pass
    return reader.hexdigest()


class NonFiniteCount:
    """Counts NaN/inf values of a 4D image seen in pieces, in file (Fortran) order, and
    remembers the volume of the first; :meth:`check` raises the message for the uploader."""

    def __init__(self, values_per_volume: int, field_name: str = "dwi"):
        self.values_per_volume = max(int(values_per_volume), 1)
        self.field_name = field_name
        self.count = 0
        self.first_volume = None

    def add(self, values, start: int) -> None:
        """Account for ``values``, the image's values from flat (Fortran-order) index ``start``."""
        finite = np.isfinite(values)
        if finite.all():
            return
        if self.first_volume is None:
            self.first_volume = (start + int(np.argmin(finite.reshape(-1, order="F")))) // self.values_per_volume
        self.count += int(finite.size - np.count_nonzero(finite))

    def check(self) -> None:
        if self.count:
            raise DiffusionInputError(
                self.field_name,
                f"the image contains {self.count} NaN or infinite value(s) (first in volume "
                f"{self.first_volume}). Re-export the series from the scanner/converter; processed "
                "or edited images are not accepted.",
            )


def check_finite(data, field_name: str = "dwi") -> None:
    """Raise DiffusionInputError if a 4D array has NaN/inf (checked volume by volume)."""
    count = NonFiniteCount(int(np.prod(data.shape[:-1])), field_name)
    for k in range(data.shape[-1]):
        count.add(data[..., k], k * count.values_per_volume)
    count.check()


@dataclass
class StreamedDWI:
    """What one pass of :func:`stream_dwi` over a diffusion NIfTI found.

    ``data`` is the image as float32 ``(X, Y, Z, N)`` in Fortran order (each volume contiguous),
    header scaling applied, or None when the data were only checked.
    """

    sha256: str
    file_bytes: int
    n_values: int
    affine: np.ndarray
    header: object
    data: np.ndarray | None = None


class DWIFile:
    """One pass over a diffusion NIfTI's bytes, read ahead by a background thread.

    From construction on, a thread reads the file, hashes it (SHA-256) and decompresses it
    (ISA-L), ``chunk_bytes`` at a time, at most two chunks ahead of the consumer. Reading,
    hashing and decompressing release the GIL, so they overlap with whatever the caller does
    meanwhile (the pipeline checks the header and the gradients, which costs the nibabel import
    in a fresh process). :meth:`result` then decodes the stream; :func:`stream_dwi` is the
    same in one call. Use it as a context manager, or call :meth:`close`, so that an abandoned
    read stops.
    """

    _END = object()

    def __init__(self, path, chunk_bytes: int = CHUNK_BYTES):
        self.path = str(path)
        self.chunk_bytes = max(1, int(chunk_bytes))
        self._queue = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._done = False
        self.sha256 = None
        self._thread = threading.Thread(target=self._read_ahead, name="dwi-read-ahead", daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read_ahead(self):
        try:
            with open(self.path, "rb") as raw:
                is_gz = raw.read(2) == _GZIP_MAGIC
                raw.seek(0)
                reader = Sha256Reader(raw)
                stream = igzip.IGzipFile(fileobj=reader, mode="rb") if is_gz else reader
                while block := stream.read(self.chunk_bytes):  # to the end: gzip CRC and length
                    if not self._put(block):
                        return
                for _ in reader.chunks():  # any trailing bytes, for the hash
                    pass
                self.sha256 = reader.hexdigest()
            self._put(self._END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)

    def readinto(self, buf) -> int:
        """Decompressed bytes into ``buf`` (at most ``len(buf)``); 0 at the end of the file."""
        while not len(self._pending):
            if self._done:
                return 0
            item = self._queue.get()
            if item is self._END:
                self._done = True
                return 0
            if isinstance(item, BaseException):
                self._done = True
                raise item
            self._pending = memoryview(item)
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def read(self, n: int = -1) -> bytes:
        out = bytearray(max(int(n), 0) if n >= 0 else self.chunk_bytes)
        got = self.readinto(memoryview(out))
        return bytes(out[:got])

    def close(self) -> None:
        """Stop the read-ahead (if still running) and wait for its thread."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()

    def result(self, *, keep_data: bool) -> StreamedDWI:
        """Decode the whole file: integrity, NaN/inf, SHA-256, and the data if wanted.

        See :func:`stream_dwi` (the same, in one call) for what is checked and returned.
        """
        import nibabel as nib

        path = self.path
        name = os.path.basename(path)
        try:
            img = nib.load(path)
            proxy = img.dataobj
            shape = tuple(int(s) for s in img.shape)
            dtype = np.dtype(proxy.dtype)
            offset = int(proxy.offset)
            slope = float(proxy.slope)
            inter = float(proxy.inter)
        except Exception:  # nibabel raises many types for garbage
            raise DiffusionInputError(
                "dwi", f"{name!r} is not a readable NIfTI image. Convert the DICOM series with dcm2niix."
            ) from None
        if len(shape) != 4:
            raise DiffusionInputError("dwi", f"the image is {len(shape)}D; a diffusion series must be 4D.")
        n_values = int(np.prod(shape))
        scaled = slope != 1.0 or inter != 0.0
        # integers read without scaling cannot be NaN or infinite
        may_be_nonfinite = dtype.kind == "f" or scaled
        nonfinite = NonFiniteCount(int(np.prod(shape[:3])))
        flat = np.empty(n_values, dtype=np.float32) if keep_data else None
        chunk_values = max(1, self.chunk_bytes // dtype.itemsize)
        buf = bytearray(min(chunk_values, max(n_values, 1)) * dtype.itemsize)
        try:
            _read_full(self, memoryview(bytearray(offset)))
            done = 0
            while done < n_values:
                count = min(chunk_values, n_values - done)
                _read_full(self, memoryview(buf)[: count * dtype.itemsize])
                values = np.frombuffer(buf, dtype=dtype, count=count)
                if flat is not None:
                    values = _decode(values, slope, inter, out=flat[done : done + count])
                elif scaled:
                    values = _decode(values, slope, inter, out=np.empty(count, np.float32))
                if may_be_nonfinite:
                    nonfinite.add(values, done)
                done += count
            while self.readinto(memoryview(buf)):  # the rest, to the end (checked by the reader)
                pass
        except (*_GZIP_ERRORS, OSError, struct.error):
            raise DiffusionInputError("dwi", f"{name!r} is truncated or corrupt. Upload the file again.") from None
        nonfinite.check()
        return StreamedDWI(
            sha256=self.sha256,
            file_bytes=os.path.getsize(path),
            n_values=n_values,
            affine=np.asarray(img.affine, dtype=float),
            header=img.header,
            data=flat.reshape(shape, order="F") if flat is not None else None,
        )


def stream_dwi(path, *, keep_data: bool, chunk_bytes: int = CHUNK_BYTES) -> StreamedDWI:
    """Read a 4D NIfTI once, in chunks: integrity, NaN/inf, SHA-256, and the data if wanted.

    The one reader of diffusion data (:class:`DWIFile`, which the pipeline starts early to
    overlap the reading with its checks): upload validation calls it with ``keep_data=False``
    (at most about three ``chunk_bytes`` of voxel data in memory), the pipeline with
    ``keep_data=True`` (the values are decoded straight into a preallocated float32 array, so
    peak memory is that array plus about three chunks, whatever the type on disk). The whole
    file is read to its end, so the gzip CRC and length are verified and the SHA-256 covers
    every byte of the file.

    Raises
    ------
    DiffusionInputError
        ``field="dwi"`` if the file is not a readable 4D NIfTI, is truncated or corrupt, or its
        values (after header scaling) contain NaN/inf.
    """
    with DWIFile(path, chunk_bytes) as dwi:
        return dwi.result(keep_data=keep_data)


def _decode(values, slope, inter, out):
    """Stored values as float32 with the header's scaling (``value * slope + inter``), into ``out``."""
    out[...] = values
    if slope != 1.0 or inter != 0.0:
        out *= np.float32(slope)
        out += np.float32(inter)
    return out


def _read_full(stream, mv):
    got = 0
    n = len(mv)
    while got < n:
        k = stream.readinto(mv[got:])
        if not k:
            raise EOFError(f"file ends early ({got} of {n} bytes)")
        got += k


def load_labels(path, shape, affine=None) -> np.ndarray:
    """Load an integer label image and put it on the DWI grid.

    A label image on another grid (other resolution, orientation or field of view, e.g. drawn on a
    structural image) is resampled onto the DWI grid with nearest neighbour through the two
    voxel-to-world affines (:func:`imaging.dti.register.resample_labels`).

    Parameters
    ----------
    path : str or Path
        3D NIfTI (a 4D image with a single volume is accepted).
    shape : (X, Y, Z)
        DWI spatial shape.
    affine : (4, 4), optional
        DWI affine; without it the label image must already have the DWI's shape.

    Returns
    -------
    int32 array (X, Y, Z)

    Raises
    ------
    DiffusionInputError
        ``field="labels"``.
    """
    import nibabel as nib

    from .register import resample_labels

    name = os.path.basename(str(path))
    try:
        img = nib.load(str(path))
        arr = np.asanyarray(img.dataobj)
    except Exception:  # nibabel raises many types for garbage
        raise DiffusionInputError("labels", f"{name!r} is not a readable NIfTI image.") from None
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3:
        raise DiffusionInputError("labels", f"the label image must be 3D; it is {arr.ndim}D {arr.shape}.")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.rint(arr)):
            raise DiffusionInputError(
                "labels", "the label image must contain whole numbers (region codes), not fractional values."
            )
    elif arr.dtype.kind not in "iub":
        raise DiffusionInputError("labels", f"unsupported label voxel type {arr.dtype}.")
    arr = np.asarray(arr, dtype=np.int32)
    same_grid = tuple(arr.shape) == tuple(shape) and (affine is None or np.allclose(img.affine, affine, atol=1e-3))
    if same_grid:
        return arr
    if affine is None:
        raise DiffusionInputError(
            "labels", f"the label image is {arr.shape} but the diffusion image is {tuple(shape)}."
        )
    if not np.all(np.isfinite(img.affine)) or abs(np.linalg.det(img.affine[:3, :3])) < 1e-9:
        raise DiffusionInputError("labels", "the label image's voxel-to-world affine is not valid.")
    resampled = resample_labels(arr, img.affine, tuple(shape), np.asarray(affine, float))
    if arr.any() and not resampled.any():
        raise DiffusionInputError(
            "labels",
            "no label of the label image falls on the diffusion image (its position in the scanner does "
            "not overlap the scan; was it drawn on another patient's or session's image?).",
        )
    return resampled


def parse_label_names(obj) -> dict:
    """Normalise label names to ``{int: str}``.

    Accepts a dict (int or numeric-string keys), a list of ``[code, name]``
    pairs, a JSON string of either, or a path (``os.PathLike``) to a JSON file.
    A plain string is always JSON text, never opened as a file: it may come from a person.
    """
    if obj is None:
        return {}
    if isinstance(obj, (str, os.PathLike)):
        try:
            if isinstance(obj, os.PathLike):
                with open(obj, encoding="utf-8") as fh:
                    obj = json.load(fh)
            else:
                obj = json.loads(obj)
        except (OSError, ValueError):
            raise DiffusionInputError(
                "label_names", 'the label names are not valid JSON; give an object like {"1": "cst-l"}.'
            ) from None
    items = obj.items() if isinstance(obj, dict) else obj
    out = {}
    try:
        for k, v in items:
            out[int(k)] = str(v)
    except (TypeError, ValueError):
        raise DiffusionInputError(
            "label_names", 'label names must map label values to region codes, e.g. {"1": "cst-l"}.'
        ) from None
    return out


def save_nifti(arr, affine, path, ref_header=None, dtype=None) -> str:
    """Write an array as NIfTI with the given affine (and the reference
    header's qform/sform codes). Returns the path.

    nibabel makes the bytes (header and data); a ``.gz`` path is compressed with ISA-L at
    :data:`GZIP_LEVEL`."""
    import nibabel as nib

    arr = np.asarray(arr)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    img = nib.Nifti1Image(arr, affine)
    if ref_header is not None:
        try:
            _, scode = ref_header.get_sform(coded=True)
            _, qcode = ref_header.get_qform(coded=True)
            img.set_sform(affine, int(scode) if scode else 1)
            img.set_qform(affine, int(qcode) if qcode else 1)
        except Exception:  # not a NIfTI header: keep defaults
            pass
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_data_dtype(arr.dtype)
    raw = img.to_bytes()
    with open(path, "wb") as fh:
        fh.write(igzip.compress(raw, GZIP_LEVEL) if str(path).endswith(".gz") else raw)
    return str(path)
