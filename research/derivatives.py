"""The cohort's imaging derivatives as BIDS entries: one per visit that has a scan that counts."""

from django.core.files.storage import default_storage

from imaging.models import DiffusionResult
from research.bids import bids_label, session_label
from research.cohort import SeenCourse, iter_courses

MAP_KEYS = {"fa": "FA", "md": "MD", "ad": "AD", "rd": "RD", "color_fa": "colorFA", "mask": "mask"}


def _opener(name):
    return lambda: default_storage.open(name, "rb")


def _has_scan(course):
    return any(visit.scan for visit in course.visits)


def _participant(seen):
    patient = seen.seen("patient", seen.course)
    return {
        "participant_id": f"sub-{bids_label(patient['study_id'])}",
        "sex": patient["sex"],
        "age_months": patient["age_at_first_procedure_months"],
        "cp_subtype": patient["cp_subtype"],
        "gmfcs_level": patient["gmfcs_level"],
    }


def bids_entries(cohort, rules):
    """(entries, participants): lazily built entries for research.bids.iter_bids_zip, and the
    de-identified participants rows (one per patient with a scan that counts)."""
    participants = [_participant(SeenCourse(course, rules)) for course in iter_courses(cohort) if _has_scan(course)]

    def entries():
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
                yield {
                    "subject": subject,
                    "session": session_label(visit.kind, visit.months),
                    "maps": {
                        key: _opener(result.files[name]) for name, key in MAP_KEYS.items() if name in result.files
                    },
                    "sidecar": {
                        **provenance,
                        "qc": result.qc.get("overall"),
                        "months_since_procedure": visit.months,
                        "usable": visit.scan.usable,
                    },
                }

    return entries(), participants
