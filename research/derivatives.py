"""The cohort's imaging derivatives as BIDS entries: one per visit that has a scan that counts."""

from django.utils.translation import gettext as _

from imaging import storage
from imaging.models import DiffusionResult
from research.bids import _disambiguate, bids_label, session_label
from research.cohort import SeenCourse, iter_courses

MAP_KEYS = {"fa": "FA", "md": "MD", "ad": "AD", "rd": "RD", "color_fa": "colorFA", "mask": "mask"}


def _has_scan(course):
    return any(visit.scan for visit in course.visits)


def _participant(seen):
    patient = seen.seen("patient", seen.course)
    return {
        "participant_id": f"sub-{bids_label(patient['study_id'])}",
        "site": patient["site"],
        "sex": patient["sex"],
        "age_months": patient["age_at_first_procedure_months"],
        "cp_subtype": patient["cp_subtype"],
        "gmfcs_level": patient["gmfcs_level"],
    }


def bids_entries(cohort, rules):
    """(entries, participants): the entries for research.bids.iter_bids_zip, and the de-identified
    participants rows (one per patient with a scan that counts).

    The entries are a list (a few small dicts per scan; the maps are opened only while streaming),
    so that every file can be checked before the first byte is sent (:func:`damaged_entries`).
    Each map is read through a check of its sha256 while it streams, too.
    """
    participants = [_participant(SeenCourse(course, rules)) for course in iter_courses(cohort) if _has_scan(course)]
    entries = []
    for course in iter_courses(cohort):
        subject = bids_label(course.study_id)
        scans = {visit.scan.pk: visit for visit in course.visits if visit.scan}
        if not scans:
            continue
        results = DiffusionResult.objects.filter(scan_id__in=list(scans), is_current=True)
        for result in results.order_by("scan__visit__date"):
            visit = scans[result.scan_id]
            # Only the provenance keys on research's allow-list, and only those the run recorded.
            allowed = rules.project("provenance", result.provenance)
            provenance = {key: value for key, value in allowed.items() if key in result.provenance}
            files = result.files if isinstance(result.files, dict) else {}
            keys = [name for name in MAP_KEYS if name in files]
            entries.append(
                {
                    "subject": subject,
                    "session": session_label(visit.kind, visit.months),
                    "maps": {MAP_KEYS[name]: storage.open_for_export(result, name) for name in keys},
                    "sidecar": {
                        **provenance,
                        "qc": result.qc.get("overall"),
                        "months_since_procedure": visit.months,
                        "usable": visit.scan.usable,
                    },
                    "stored": (result, keys),  # for damaged_entries; iter_bids_zip does not read it
                }
            )
    return entries, participants


def damaged_entries(entries):
    """The entries whose maps are not all present and intact, as research may name them:
    [{"subject": "sub-CP001", "session": "ses-m06", "problems": ["FA map: damaged", ...]}], with the
    labels the zip would give them. Every problem is logged (with the scan, for administrators)."""
    faults, taken = [], {}
    for entry in entries:
        subject = bids_label(entry["subject"])
        session = _disambiguate(bids_label(entry["session"]), taken.setdefault(subject, set()))
        taken[subject].add(session)
        result, keys = entry["stored"]
        problems = storage.result_problems(result, keys, where="refused for a BIDS export")
        if problems:
            faults.append(
                {
                    "subject": f"sub-{subject}",
                    "session": f"ses-{session}",
                    "problems": [
                        _("%(file)s: %(status)s") % {"file": found.label, "status": found.status_label}
                        for found in problems
                    ],
                }
            )
    return faults
