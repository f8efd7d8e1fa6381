"""The de-identification rules, one set for research pages, research API answers and exports.

- Study ID only: names, record number, birth and consent dates never leave (IDENTIFIER_FIELDS).
- Ages are whole months at each event.
- Dates, chosen per export: whole days since the patient's first intrathecal procedure
  (`relative`, negative before it, null while the patient has had none), or the real date
  moved back by a secret per-patient offset of 1-364 days (`shifted`): the same offset for
  every date of a patient and in every export, so intervals are kept.
- Free-text fields are left out unless a registry-admin releases them (FreeTextRelease).
"""

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext_lazy as _

# Patient fields that identify a person; never shown to accounts without identifier access.
IDENTIFIER_FIELDS = ("given_name", "family_name", "mrn", "date_of_birth", "consent_date")

# Free text that may name or describe a person: "<model>.<field>" -> what it is.
FREE_TEXT_FIELDS = {
    "score.assessor": _("Score: assessor (a person's name)"),
    "adverseevent.term": _("Adverse event: term"),
    "roimeasurement.region": _("ROI measurement: region name"),
    "scan.usable_reason": _("Scan: reason it is not usable"),
}

# Released when a registry is created: controlled vocabulary, needed for the analyses.
DEFAULT_RELEASES = {
    "adverseevent.term": "CTCAE terms are a controlled vocabulary, needed for safety analyses.",
    "roimeasurement.region": "Region names label tracts (e.g. CST left), needed for FA per region.",
}

RELATIVE = "relative"
SHIFTED = "shifted"
DATE_MODES = {RELATIVE: _("days since the first procedure"), SHIFTED: _("dates shifted per patient")}


def days_since_procedure(value, first_procedure_date):
    """Whole days from the first procedure to `value` (a date), or None."""
    if value is None or first_procedure_date is None:
        return None
    return (value - first_procedure_date).days


def date_shift_days(patient_id):
    """The patient's secret date offset, 1-364 days (never 0, which would leave the real dates),
    the same in every export."""
    key = (getattr(settings, "DEIDENTIFICATION_KEY", "") or settings.SECRET_KEY).encode()
    digest = hmac.new(key, f"date-shift:{patient_id}".encode(), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:8], "big") % 364


def age_in_months(date_of_birth, on_date):
    if date_of_birth is None or on_date is None:
        return None
    months = (on_date.year - date_of_birth.year) * 12 + on_date.month - date_of_birth.month
    return months - 1 if on_date.day < date_of_birth.day else months


@dataclass(frozen=True)
class Rules:
    """De-identification for one export or view: its date mode and the released free text."""

    date_mode: str = RELATIVE
    released: frozenset = field(default_factory=frozenset)

    def date(self, value, patient_id, first_procedure_date):
        """A date as this export shows it: days since the first procedure, or shifted ISO date."""
        if value is None:
            return None
        if self.date_mode == SHIFTED:
            return (value - dt.timedelta(days=date_shift_days(patient_id))).isoformat()
        return days_since_procedure(value, first_procedure_date)

    def date_column(self, stem):
        """The column name for a date: `visit_day` (relative) or `visit_date_shifted`."""
        return f"{stem}_day" if self.date_mode == RELATIVE else f"{stem}_date_shifted"

    def keeps(self, key):
        """Whether a free-text field ("model.field") may be shown."""
        return key in self.released

    def free_text(self, key, value):
        return value if key in self.released else None


def rules(date_mode=RELATIVE):
    """The rules in force now (free-text releases are read from the database)."""
    from registry.models import FreeTextRelease

    if date_mode not in DATE_MODES:
        raise ValueError(f"date mode must be one of {sorted(DATE_MODES)}")
    return Rules(date_mode=date_mode, released=frozenset(FreeTextRelease.objects.values_list("field", flat=True)))


def seed_free_text_releases(apps):
    """Release the controlled-vocabulary fields (idempotent; used by a data migration)."""
    FreeTextRelease = apps.get_model("registry", "FreeTextRelease")
    for key, note in DEFAULT_RELEASES.items():
        FreeTextRelease.objects.get_or_create(field=key, defaults={"note": note})
