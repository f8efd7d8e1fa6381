"""How a diffusion scan was acquired, and whether two acquisitions (or one and a protocol) are alike.

An acquisition summary is plain data: the shells (b-value in s/mm² and number of volumes; b0
volumes are the shell b=0), voxel size in mm, matrix (voxels per axis) and, when the scan came as
DICOM, the scanner (manufacturer, model, field strength in T) and timing (TR, TE in ms). A change of
FA between two scans means something only when both were acquired alike: FA depends on the b-value,
the number of directions, the voxel size (partial volume) and the scanner.

Each difference is ``{"item": code, "value": this scan's, "expected": the reference's}`` with
codes: ``b_values``, ``directions``, ``voxel_size``, ``matrix``, ``manufacturer``, ``model``,
``field_strength``, ``repetition_time``, ``echo_time``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gradients import B0_THRESHOLD
from .gradients import shells as gradient_shells

__all__ = ["Tolerances", "acquisition_summary", "compare_acquisitions", "compare_with_protocol", "shells"]


@dataclass(frozen=True)
class Tolerances:
    """How far two acquisitions may differ and still be alike.

    ``b_value``: s/mm² between shells; ``voxel_mm``: mm per axis; ``timing_percent``: TR and TE,
    percent of the reference.
    """

    b_value: float = 50.0
    voxel_mm: float = 0.1
    timing_percent: float = 5.0


def shells(bvals, b0_threshold: float = B0_THRESHOLD) -> list[list[float]]:
    """``[[b, volumes], ...]`` in increasing b, b0 volumes as b=0: the shells of gradients.shells (the
    ones QC reports), as lists that store as JSON."""
    return [[b, n] for b, n in gradient_shells(bvals, b0_threshold)]


def acquisition_summary(bvals, shape, affine, scanner=None) -> dict:
    """The summary of a scan: shells, voxel size (mm, 2 decimals), matrix, and ``scanner`` (a dict of
    ``manufacturer``, ``model``, ``field_strength`` in T, ``repetition_time`` and ``echo_time`` in ms,
    any missing) when known."""
    affine = np.asarray(affine, float)
    voxel = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    summary = {
        "shells": shells(bvals),
        "voxel_size": [round(float(v), 2) for v in voxel],
        "matrix": [int(n) for n in tuple(shape)[:3]],
    }
    for key, value in (scanner or {}).items():
        if value not in (None, ""):
            summary[key] = value
    return summary


def _weighted(acquisition):
    return [shell for shell in acquisition.get("shells") or [] if shell[0] > 0]


def _b_text(shell_list):
    return [shell[0] for shell in shell_list]


def _shells_differ(mine, theirs, tolerance):
    return len(mine) != len(theirs) or any(abs(a[0] - b[0]) > tolerance for a, b in zip(mine, theirs))


def compare_acquisitions(acquisition: dict, reference: dict, tolerances: Tolerances | None = None) -> list[dict]:
    """Each way ``acquisition`` differs from ``reference`` (another scan's summary), in item order."""
    tol = tolerances or Tolerances()
    differences = []
    mine, theirs = _weighted(acquisition), _weighted(reference)
    if _shells_differ(mine, theirs, tol.b_value):
        differences.append({"item": "b_values", "value": _b_text(mine), "expected": _b_text(theirs)})
    elif [s[1] for s in mine] != [s[1] for s in theirs]:
        differences.append({"item": "directions", "value": [s[1] for s in mine], "expected": [s[1] for s in theirs]})
    differences += _grid_differences(acquisition, reference.get("voxel_size"), reference.get("matrix"), tol)
    differences += _scanner_differences(acquisition, reference, tol)
    return differences


def compare_with_protocol(acquisition: dict, protocol: dict, tolerances: Tolerances | None = None) -> list[dict]:
    """Each way ``acquisition`` departs from a protocol: ``{"b_values": [1000], "min_directions": 30,
    "voxel_size": [2, 2, 2], "matrix": [...], "manufacturer", "model", "field_strength",
    "repetition_time", "echo_time"}`` (any left out or empty is not checked)."""
    tol = tolerances or Tolerances()
    differences = []
    mine = _weighted(acquisition)
    expected_b = [float(b) for b in protocol.get("b_values") or []]
    if expected_b and _shells_differ(mine, [[b, 0] for b in sorted(expected_b)], tol.b_value):
        differences.append({"item": "b_values", "value": _b_text(mine), "expected": sorted(expected_b)})
    minimum = protocol.get("min_directions")
    if minimum and any(shell[1] < minimum for shell in mine):
        differences.append({"item": "directions", "value": [s[1] for s in mine], "expected": minimum})
    differences += _grid_differences(acquisition, protocol.get("voxel_size"), protocol.get("matrix"), tol)
    differences += _scanner_differences(acquisition, protocol, tol)
    return differences


def _grid_differences(acquisition, voxel_size, matrix, tol):
    differences = []
    mine = acquisition.get("voxel_size")
    if voxel_size and mine and any(abs(a - b) > tol.voxel_mm for a, b in zip(mine, voxel_size)):
        differences.append({"item": "voxel_size", "value": mine, "expected": list(voxel_size)})
    if matrix and acquisition.get("matrix") and list(acquisition["matrix"]) != list(matrix):
        differences.append({"item": "matrix", "value": acquisition["matrix"], "expected": list(matrix)})
    return differences


def _scanner_differences(acquisition, reference, tol):
    """Scanner and timing, compared only where both sides know them (a NIfTI upload has no scanner)."""
    differences = []
    for item in ("manufacturer", "model"):
        mine, theirs = acquisition.get(item), reference.get(item)
        if mine and theirs and str(mine).strip().lower() != str(theirs).strip().lower():
            differences.append({"item": item, "value": mine, "expected": theirs})
    mine, theirs = acquisition.get("field_strength"), reference.get("field_strength")
    if mine and theirs and abs(float(mine) - float(theirs)) > 0.05:
        differences.append({"item": "field_strength", "value": mine, "expected": theirs})
    for item in ("repetition_time", "echo_time"):
        mine, theirs = acquisition.get(item), reference.get(item)
        if mine and theirs and abs(float(mine) - float(theirs)) > tol.timing_percent / 100 * abs(float(theirs)):
            differences.append({"item": item, "value": mine, "expected": theirs})
    return differences
