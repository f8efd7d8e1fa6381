"""Atlas regions where a site provides an atlas: every processed scan registered to a template FA and
measured in the atlas's regions.

A site that has an FA template and a label atlas on that template (files it installs; the registry
ships and downloads none) names them in the settings IMAGING_ATLAS_TEMPLATE (FA NIfTI),
IMAGING_ATLAS_LABELS (integer NIfTI, on the template's grid or any other: resampled through the
affines) and IMAGING_ATLAS_REGIONS (a JSON file mapping each label value to a region code of the
vocabulary, e.g. {"1": "cst-l"}). Each processed scan then gets measurements with source "atlas":
the template is registered to the scan's FA (affine, then SyN where it improves the match), its labels
carried onto the scan by nearest neighbour, and FA, MD, AD, RD and voxels measured per region. The
transform, the files' sha256 and the similarity go into the result's provenance under "atlas".

Settings that do not describe a usable atlas stop the start-up (a Django system check) with a
message naming the setting, rather than failing every scan.
"""

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, transaction

from imaging import storage
from imaging.dti import RegistrationSettings, carry_labels, load_labels, region_stats, register_fa, sha256_file
from imaging.dti.errors import DiffusionInputError
from imaging.dti.io import parse_label_names
from imaging.models import DiffusionResult, Region, RoiMeasurement, Scan

log = logging.getLogger(__name__)
SETTINGS = ("IMAGING_ATLAS_TEMPLATE", "IMAGING_ATLAS_LABELS", "IMAGING_ATLAS_REGIONS")


class AtlasError(Exception):
    """The atlas settings do not describe a usable atlas; ``setting`` names the one at fault."""

    def __init__(self, setting, message):
        super().__init__(message)
        self.setting, self.message = setting, message


@dataclass(frozen=True)
class Atlas:
    """A template FA image (X, Y, Z) with its voxel-to-world affine, the atlas labels on its grid, and
    the region code of each label value."""

    template: np.ndarray
    affine: np.ndarray
    labels: np.ndarray
    names: dict
    provenance: dict


def configured():
    """Whether the site names an atlas (any of the three settings set)."""
    return any(getattr(settings, name, "") for name in SETTINGS)


def _paths():
    return tuple(str(getattr(settings, name, "") or "") for name in SETTINGS)


def load():
    """The site's atlas (read once per process and file version), or None when none is configured.
    Raises AtlasError when the settings do not describe a usable one."""
    if not configured():
        return None
    paths = _paths()
    stamps = tuple(Path(p).stat().st_mtime_ns if p and Path(p).is_file() else None for p in paths)
    return _load(paths, stamps)


@lru_cache(maxsize=2)
def _load(paths, _stamps):
    import nibabel as nib

    template_path, labels_path, regions_path = paths
    for name, path in zip(SETTINGS, paths):
        if not path:
            raise AtlasError(name, f"{name} is not set; an atlas needs all of {', '.join(SETTINGS)}.")
        if not Path(path).is_file():
            raise AtlasError(name, f"{name} names {path}, which is not a file this server can read.")
    try:
        template_image = nib.load(template_path)
        template = np.asarray(template_image.dataobj, np.float64)
    except Exception as error:  # nibabel raises many kinds for a file that is not an image
        raise AtlasError(SETTINGS[0], f"{SETTINGS[0]}: {template_path} is not a NIfTI image ({error}).") from None
    if template.ndim != 3 or not np.all(np.isfinite(template)) or template.max() <= 0:
        raise AtlasError(SETTINGS[0], f"{SETTINGS[0]}: {template_path} must be a 3D FA map with finite values.")
    try:  # the same reading, checks and resampling as a label image a radiologist uploads
        labels = load_labels(labels_path, template.shape, template_image.affine)
    except DiffusionInputError as error:
        raise AtlasError(SETTINGS[1], f"{SETTINGS[1]}: {labels_path}: {error.message}") from None
    names = _region_names(regions_path, set(np.unique(labels).tolist()) - {0})
    provenance = {
        "template": Path(template_path).name,
        "template_sha256": sha256_file(template_path),
        "labels": Path(labels_path).name,
        "labels_sha256": sha256_file(labels_path),
        "regions": names,
    }
    return Atlas(template, np.asarray(template_image.affine, float), labels, names, provenance)


def _region_names(path, present):
    """The atlas's {label: region code}, read as a radiologist's label names are (parse_label_names)."""
    setting = SETTINGS[2]
    try:
        names = parse_label_names(Path(path))
    except DiffusionInputError as error:
        raise AtlasError(setting, f"{setting}: {path}: {error.message}") from None
    if not names:
        raise AtlasError(setting, f'{setting}: {path} must map label values to region codes, e.g. {{"1": "cst-l"}}.')
    for label in names:
        if label == 0 or label not in present:
            raise AtlasError(setting, f"{setting}: {path} names label {label}, which the atlas labels do not contain.")
    return names


def unknown_codes(atlas):
    """The atlas's region codes that are not in the vocabulary (the database must be reachable)."""
    known = set(Region.objects.filter(code__in=atlas.names.values()).values_list("code", flat=True))
    return sorted(set(atlas.names.values()) - known)


@checks.register(checks.Tags.compatibility)
def check_atlas_settings(app_configs=None, **kwargs):
    """Start-up check: the atlas settings, when any is set, describe a usable atlas."""
    if not configured():
        return []
    try:
        found = load()
    except AtlasError as error:
        return [
            checks.Error(error.message, hint="Fix or unset the atlas settings.", id="imaging.E001", obj=error.setting)
        ]
    try:
        unknown = unknown_codes(found)
    except DatabaseError:  # not migrated yet: checked again when a scan is measured
        return []
    if unknown:
        message = f"{SETTINGS[2]} names region codes not in the vocabulary: {', '.join(unknown)}."
        return [checks.Error(message, hint="Add the regions in the admin first.", id="imaging.E002", obj=SETTINGS[2])]
    return []


def measure(scan_id):
    """Register the template to the scan's FA and measure the atlas regions on the scan's current result;
    returns the measurements (none when no atlas is configured or the scan has no current result)."""
    atlas = load()
    scan = Scan.objects.get(pk=scan_id)
    result = scan.current_result
    if atlas is None or result is None:
        return []
    unknown = unknown_codes(atlas)
    if unknown:
        raise AtlasError(SETTINGS[2], f"{SETTINGS[2]} names region codes not in the vocabulary: {', '.join(unknown)}.")
    with storage.staging_folder() as folder:
        maps, affine = storage.result_maps(result, ("fa", "md", "mask", "ad", "rd"), folder)
    mask = maps["mask"] > 0
    registration = register_fa(
        maps["fa"], affine, atlas.template, atlas.affine, static_mask=mask, settings=RegistrationSettings()
    )
    labels = carry_labels(atlas.labels, registration)
    stats = region_stats(
        labels, maps["fa"], maps["md"], mask=mask, label_names=atlas.names, ad=maps.get("ad"), rd=maps.get("rd")
    )
    provenance = {**atlas.provenance, "registration": registration.provenance()}
    return _store(scan, result, [row for row in stats if row["voxels"]], provenance)


@transaction.atomic
def _store(scan, result, stats, provenance):
    """The scan's atlas measurements := these, on its current result (nothing if it changed meanwhile)."""
    result = DiffusionResult.objects.select_for_update().filter(pk=result.pk, is_current=True).first()
    if result is None:
        return []
    result.provenance = {**result.provenance, "atlas": provenance}
    result.save(update_fields=["provenance"])
    RoiMeasurement.objects.filter(scan=scan, source=RoiMeasurement.Source.ATLAS).delete()
    regions = Region.objects.in_bulk([str(row["name"]) for row in stats], field_name="code")
    created = []
    for row in stats:
        roi = RoiMeasurement.from_stats(
            scan, result, row, region=regions.get(str(row["name"])), source=RoiMeasurement.Source.ATLAS
        )
        roi.full_clean()
        roi.save()
        created.append(roi)
    return created


def dispatch(scan_id):
    """Queue the atlas measurement of a newly processed scan (registration takes seconds)."""
    from celery import current_app
    from kombu.exceptions import KombuError

    if not configured():
        return
    try:  # by name: imaging.tasks builds on this module
        current_app.signature("imaging.tasks.measure_atlas_regions", args=(scan_id,)).delay()
    except (KombuError, OSError) as error:
        log.warning("scan %s: atlas regions not measured, the queue did not answer: %s", scan_id, error)
