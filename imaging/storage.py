"""Stored files of scans: written whole or not at all, with their sha256; verified before they are
served or exported; deleted once the deletion of their scan is committed.

Writing (:func:`put`, :class:`AttemptFiles`)
    On a local :class:`~django.core.files.storage.FileSystemStorage` a file is written under a
    temporary name in its final folder (``.fa.nii.gz.<random>.part``), flushed to disk and renamed
    into place, so its final name never holds part of a file. Other storages (S3) get the file in
    their single put, which makes the object appear whole or not at all. The sha256 is taken from
    the bytes as they are written (the registry's one hasher, :class:`imaging.dti.io.Sha256Reader`)
    and the stored copy is read back once and compared. A write that fails removes what it wrote;
    :class:`AttemptFiles` removes every file of a processing attempt that does not end with a
    stored result.

Verifying (:func:`check`, :func:`open_verified`, :func:`result_problems`)
    A result records ``checksums`` ({name: sha256}) next to ``files`` ({name: storage name}). A file
    is *intact* when its bytes hash to the recorded sha256, *damaged* when they do not, *missing*
    when storage does not have it. Results stored before checksums existed have none recorded: the
    first check of such a file tests its structure instead (a ``.gz`` is decompressed to the end,
    which checks its CRC-32 and length; a PNG's chunk CRCs; JSON parses) and, if it is sound,
    records its sha256 from then on ("trust on first verification").

Deleting (:func:`delete_after_commit`)
    Deleting a scan or a result deletes its stored files in ``transaction.on_commit``: never
    before the deletion is committed, and not at all if it is rolled back.
"""

import gzip
import json
import logging
import os
import posixpath
import shutil
import struct
import tempfile
import uuid
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from imaging.dti.io import Sha256Reader, sha256_file

log = logging.getLogger(__name__)

INTACT, MISSING, DAMAGED, UNREADABLE = "intact", "missing", "damaged", "unreadable"
# A served file is copied to memory (to disk above this size) while it is hashed, and served from
# that copy: the bytes sent are the bytes verified, and remote storage is read once.
SPOOL_MEMORY_BYTES = 16 * 1024 * 1024
CHUNK = 1024 * 1024

# What people call each file of a result (DiffusionResult.files keys).
FILE_LABELS = {
    "fa": gettext_lazy("FA map"),
    "md": gettext_lazy("MD map"),
    "ad": gettext_lazy("AD map"),
    "rd": gettext_lazy("RD map"),
    "color_fa": gettext_lazy("colour FA map"),
    "mask": gettext_lazy("brain mask"),
    "b0": gettext_lazy("b0 image"),
    "preview_fa": gettext_lazy("FA preview"),
    "preview_color_fa": gettext_lazy("colour FA preview"),
    "results": gettext_lazy("results file"),
    "carried_regions": gettext_lazy("carried regions image"),
}
STATUS_LABELS = {
    MISSING: gettext_lazy("missing"),
    DAMAGED: gettext_lazy("damaged"),
    UNREADABLE: gettext_lazy("unreadable just now"),
}


def file_label(key):
    return str(FILE_LABELS.get(key, key.replace("_", " ")))


class StoredFileError(Exception):
    """A stored file could not be written, or is missing or damaged. ``message`` is for people
    (it names no server path); ``str()`` of the exception, for the logs, may."""

    def __init__(self, message, detail=""):
        super().__init__(detail or message)
        self.message = message


class StorageWriteFailed(StoredFileError):
    """Storage refused or broke off a write."""


class WrittenFileDamaged(StoredFileError):
    """The stored copy read back differs from the bytes written."""


# ---- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    name: str  # the storage name the file got
    sha256: str
    size: int


def _write_failed(error, name):
    reason = getattr(error, "strerror", None) or type(error).__name__
    return StorageWriteFailed(
        _(
            "The files could not be saved to storage (%(reason)s); nothing of this attempt was kept. "
            "Try again; if it fails again, tell the registry team (the storage may be full or unreachable)."
        )
        % {"reason": reason},
        detail=f"writing {name}: {error!r}",
    )


def _counted(source):
    """A Django File over `source` that hashes and counts every byte read through it."""
    reader = Sha256Reader(source)
    return reader, File(reader)


def _put_local(storage, name, source):
    """Write under a temporary name in the final folder, fsync, rename into place."""
    folder, base = posixpath.split(name)
    temporary = posixpath.join(folder, f".{base}.{uuid.uuid4().hex[:12]}.part")
    reader, content = _counted(source)
    written = None
    try:
        written = storage.save(temporary, content)
        temp_path = storage.path(written)
        descriptor = os.open(temp_path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        final = storage.get_available_name(name)
        os.replace(temp_path, storage.path(final))
        written = None
        _fsync_folder(os.path.dirname(storage.path(final)))
        return final, reader.hexdigest()
    except BaseException:
        # The storage's own write leaves what it wrote when it breaks off: remove it.
        _remove_quietly(storage.path(written if written is not None else temporary))
        raise


def _fsync_folder(path):
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        log.warning("Could not remove the partial file %s: %s", path, error)


def _put_object(storage, name, source):
    """Object storage: one put, which makes the object appear whole or not at all."""
    sha256 = sha256_file(source)
    source.seek(0)
    return storage.save(name, File(source, name=posixpath.basename(name))), sha256


def put(name, source_path, *, storage=None):
    """Store the local file `source_path` as `name`; returns :class:`Stored` (the name it got, its
    sha256 and size), after reading the stored copy back once and comparing.

    Raises :class:`StorageWriteFailed` (nothing stays behind) or :class:`WrittenFileDamaged` (the
    stored copy is deleted again). Connection errors and timeouts are raised as they are, so a
    caller may retry them.
    """
    storage = storage or default_storage
    try:
        with open(source_path, "rb") as source:
            if isinstance(storage, FileSystemStorage):
                stored_name, sha256 = _put_local(storage, name, source)
            else:
                stored_name, sha256 = _put_object(storage, name, source)
    except (ConnectionError, TimeoutError):
        raise
    except Exception as error:
        raise _write_failed(error, name) from error
    size = os.path.getsize(source_path)
    try:
        status, found = _hash_stored(storage, stored_name)
    except (ConnectionError, TimeoutError):
        delete_quietly([stored_name], storage)
        raise
    if status != INTACT or found != sha256:
        delete_quietly([stored_name], storage)
        raise WrittenFileDamaged(
            _(
                "The stored copy of %(file)s differs from what was written (its sha256 does not match); nothing "
                "of this attempt was kept. Try again; if it happens again, tell the registry team (the storage "
                "may be failing)."
            )
            % {"file": posixpath.basename(name)},
            detail=f"{stored_name}: wrote sha256 {sha256}, storage holds {status} {found}",
        )
    return Stored(stored_name, sha256, size)


class AttemptFiles:
    """The files one processing attempt writes into its result folder.

    ``put(key, path)`` stores a file and notes it in ``files`` ({key: storage name}) and
    ``checksums`` ({key: sha256}). Unless ``keep()`` is called (once the result naming them is
    stored), ``discard()`` (or leaving the ``with`` block, or ``close()``) deletes them all and
    the folder, so a failed attempt leaves nothing behind.
    """

    def __init__(self, folder, storage=None):
        self.folder = folder
        self.storage = storage or default_storage
        self.files, self.checksums = {}, {}
        self.kept = False

    def put(self, key, path):
        stored = put(f"{self.folder}/{os.path.basename(path)}", path, storage=self.storage)
        self.files[key], self.checksums[key] = stored.name, stored.sha256
        return stored.name

    def keep(self):
        self.kept = True

    def discard(self):
        if self.files:
            log.info("Removing %d files of a failed attempt in %s", len(self.files), self.folder)
        delete_quietly(list(self.files.values()), self.storage, folders=[self.folder])
        self.files, self.checksums = {}, {}

    def close(self):
        if not self.kept:
            self.discard()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---- deleting -------------------------------------------------------------------------------


def _files_under(storage, folder):
    try:
        folders, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [posixpath.join(folder, name) for name in files]
    for name in folders:
        found += _files_under(storage, posixpath.join(folder, name))
    return found


def delete_quietly(names, storage=None, *, folders=()):
    """Delete `names` and every file under `folders`, then (local storage) the emptied folders.
    Failures are logged, not raised: this runs while cleaning up, or after a commit."""
    storage = storage or default_storage
    names = list(names)
    for folder in folders:
        names += _files_under(storage, folder)
    for name in dict.fromkeys(names):
        try:
            storage.delete(name)
        except Exception as error:  # noqa: BLE001 - cleaning up must go on
            log.warning("Could not delete the stored file %s: %s", name, error)
    if isinstance(storage, FileSystemStorage):
        for folder in folders:
            _remove_empty_folders(storage, folder)


def _remove_empty_folders(storage, folder):
    try:
        top = storage.path(folder)
    except Exception:  # noqa: BLE001 - a name storage refuses has no folder to remove
        return
    if os.path.isdir(top):
        for path, _dirs, _files in sorted(os.walk(top), key=lambda item: -len(item[0])):
            try:
                os.rmdir(path)
            except OSError:
                pass  # not empty
    # Then its parents that are left empty (scans/7/results), up to the top folder (scans/).
    parent = posixpath.dirname(folder.rstrip("/"))
    while posixpath.dirname(parent):
        try:
            os.rmdir(storage.path(parent))
        except OSError:
            return  # not empty, or not there
        parent = posixpath.dirname(parent)


def delete_after_commit(names=(), folders=(), storage=None):
    """Delete stored files once the current transaction commits (at once outside one); a rollback
    keeps them."""
    names, folders = [n for n in names if n], [f for f in folders if f]
    if names or folders:
        transaction.on_commit(lambda: delete_quietly(names, storage, folders=folders), robust=True)


def scan_files_deleted(sender, instance, **kwargs):
    """post_delete of a Scan: its inputs, labels and every file under its folder go after commit."""
    from imaging.models import scan_folder

    fields = (instance.dwi, instance.bval, instance.bvec, instance.dicom_zip, instance.labels)
    names = [field.name for field in fields if field and field.name not in ("", "pending")]
    delete_after_commit(names, folders=[scan_folder(instance.pk)])


def result_files_deleted(sender, instance, **kwargs):
    """post_delete of a DiffusionResult: its maps, previews and results.json go after commit."""
    files = instance.files if isinstance(instance.files, dict) else {}
    folder = instance.folder if instance.folder and instance.folder.startswith("scans/") else None
    delete_after_commit([name for name in files.values() if isinstance(name, str)], folders=[folder] if folder else ())


# ---- verifying ------------------------------------------------------------------------------


def _hash_stored(storage, name, into=None):
    """(status, sha256) of a stored file; its bytes are copied into `into` when given."""
    try:
        handle = storage.open(name, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return MISSING, None
    try:
        reader = Sha256Reader(handle)
        for chunk in reader.chunks(CHUNK):
            if into is not None:
                into.write(chunk)
        return INTACT, reader.hexdigest()
    except (FileNotFoundError, IsADirectoryError):  # S3 says so on the first read
        return MISSING, None
    finally:
        handle.close()


def _png_sound(handle):
    if handle.read(8) != b"\x89PNG\r\n\x1a\n":
        return False
    while True:
        head = handle.read(8)
        if len(head) < 8:
            return False
        length, kind = struct.unpack(">I4s", head)
        data = handle.read(length)
        crc = handle.read(4)
        if len(data) < length or len(crc) < 4 or zlib.crc32(kind + data) != struct.unpack(">I", crc)[0]:
            return False
        if kind == b"IEND":
            return True


def structurally_sound(name, handle):
    """For a file without a recorded sha256: is it what its name says, whole? A gzip stream is read
    to the end (its CRC-32 and length are checked); a PNG's chunk CRCs are checked; JSON must parse."""
    try:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=handle, mode="rb") as unzipped:
                while unzipped.read(CHUNK):
                    pass
            return True
        if name.endswith(".png"):
            return _png_sound(handle)
        if name.endswith(".json"):
            json.loads(handle.read().decode("utf-8"))
            return True
    except (OSError, EOFError, zlib.error, ValueError, struct.error):
        return False
    return True


@dataclass
class Check:
    key: str
    name: str | None
    status: str
    recorded: str | None = None  # the sha256 on record
    found: str | None = None  # the sha256 of the stored bytes

    @property
    def label(self):
        return file_label(self.key)

    @property
    def status_label(self):
        return str(STATUS_LABELS.get(self.status, self.status))


def _recorded(result, key):
    checksums = result.checksums if isinstance(result.checksums, dict) else {}
    value = checksums.get(key)
    return value if isinstance(value, str) and len(value) == 64 else None


def _record_first_checksum(result, key, sha256):
    """Trust on first verification: note the sha256 of a file stored before checksums existed."""
    from imaging.models import DiffusionResult

    with transaction.atomic():
        locked = DiffusionResult.objects.select_for_update().filter(pk=result.pk).first()
        if locked is None:
            return
        checksums = locked.checksums if isinstance(locked.checksums, dict) else {}
        if key not in checksums:
            locked.checksums = {**checksums, key: sha256}
            locked.save(update_fields=["checksums"])
            log.info("Scan %s: recorded the sha256 of %s (stored before checksums)", result.scan_id, key)
    result.checksums = {**(result.checksums if isinstance(result.checksums, dict) else {}), key: sha256}


def _check(result, key, storage, into=None):
    files = result.files if isinstance(result.files, dict) else {}
    name = files.get(key)
    if not isinstance(name, str) or not name:
        return Check(key, None, MISSING)
    recorded = _recorded(result, key)
    try:
        if recorded is None and into is None:
            into = tempfile.SpooledTemporaryFile(SPOOL_MEMORY_BYTES, dir=settings.IMAGING_STAGING_DIR)
        status, found = _hash_stored(storage, name, into)
    except Exception as error:  # noqa: BLE001 - storage unreachable, permissions...: say so, decide nothing
        log.warning("Scan %s: the %s (%s) could not be read: %s", result.scan_id, key, name, error)
        return Check(key, name, UNREADABLE, recorded)
    if status != INTACT:
        return Check(key, name, status, recorded)
    if recorded is None:
        into.seek(0)
        if not structurally_sound(name, into):
            return Check(key, name, DAMAGED, None, found)
        _record_first_checksum(result, key, found)
        return Check(key, name, INTACT, found, found)
    return Check(key, name, INTACT if found == recorded else DAMAGED, recorded, found)


def log_problem(check, result, where):
    log.warning(
        "Scan %s: the %s of result %s is %s (%s; sha256 on record %s, found %s); %s",
        result.scan_id,
        check.key,
        result.pk,
        check.status,
        check.name,
        check.recorded or "none",
        check.found or "none",
        where,
    )


def check(result, key, storage=None):
    """A :class:`Check` of one file of a result (reads and hashes it)."""
    return _check(result, key, storage or default_storage)


def open_verified(result, key, storage=None):
    """(check, file): the file's bytes copied while hashed; the file is None unless they are intact.
    Serve from the returned file, positioned at its start: those are the bytes that were verified."""
    spool = tempfile.SpooledTemporaryFile(SPOOL_MEMORY_BYTES, dir=settings.IMAGING_STAGING_DIR)
    found = _check(result, key, storage or default_storage, into=spool)
    if found.status != INTACT:
        spool.close()
        return found, None
    spool.seek(0)
    return found, spool


def result_checks(result, keys=None, storage=None):
    """A :class:`Check` of every file of the result (or of `keys`), in the order of its files."""
    files = result.files if isinstance(result.files, dict) else {}
    return [check(result, key, storage) for key in (files if keys is None else keys)]


def result_problems(result, keys=None, storage=None, where="found while checking the result"):
    """The checks of the result's files that are not intact (each logged, saying `where`)."""
    problems = [found for found in result_checks(result, keys, storage) if found.status != INTACT]
    for found in problems:
        log_problem(found, result, where)
    return problems


class VerifyingReader:
    """A stored file read once from start to end, hashed on the way; at its end the hash must be the
    one on record, else :class:`StoredFileError` is raised (a stream then breaks off rather than carry
    bytes that changed since they were checked)."""

    def __init__(self, handle, expected, label):
        self._handle, self._expected, self._label = handle, expected, label
        self._reader = Sha256Reader(handle)

    def read(self, size=-1):
        block = self._reader.read(size)
        if not block and size != 0 and self._expected:
            if self._reader.hexdigest() != self._expected:
                raise StoredFileError(_("The %(file)s changed while it was exported.") % {"file": self._label})
        return block

    def tell(self):
        return self._handle.tell()

    def seek(self, *args):
        return self._handle.seek(*args)

    def close(self):
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def open_for_export(result, key, storage=None):
    """A zero-argument opener of one file of a result, for a streamed export: it reads the file through
    a :class:`VerifyingReader`, so it must already have been checked (and its sha256 recorded)."""
    storage = storage or default_storage
    return lambda: VerifyingReader(storage.open(result.files[key], "rb"), _recorded(result, key), file_label(key))


# ---- local copies -------------------------------------------------------------------------------


@contextmanager
def staging_folder():
    """A private folder for an upload while it is checked; removed whatever happens."""
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=settings.IMAGING_STAGING_DIR))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def result_maps(result, keys, folder):
    """({key: float32 array}, affine) of a stored result's maps, each checked against its checksum
    (a damaged map raises StoredFileError: measuring on it would give wrong numbers). AD and RD
    are optional: a result from before they were stored has none."""
    import nibabel as nib

    maps, affine = {}, None
    for key in keys:
        if key in ("ad", "rd") and key not in (result.files or {}):
            continue
        target = Path(folder) / f"{key}.nii.gz"
        found, verified = open_verified(result, key)
        if verified is None:
            log_problem(found, result, "refused for measuring regions")
            raise StoredFileError(found.status)
        with verified as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        image = nib.load(str(target))
        maps[key], affine = image.get_fdata(dtype="float32"), image.affine
    return maps, affine
