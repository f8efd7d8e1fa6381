"""What research accounts may see: for each kind of record, an allow-list of fields and how each is transformed.

Every research outlet (API answers, pages, exports, BIDS sidecars) asks this module for its
projection; a field that is not on its kind's list is invisible to research by construction.

- Study ID only: names, record number, birth and consent dates are on no list.
- Ages are whole months at each event (`AgeInMonths`).
- Dates (`Day`), chosen per export: whole days since the patient's first intrathecal procedure
  (`relative`, negative before it, null while the patient has had none), or the real date
  moved back by a secret per-patient offset of 1-364 days (`shifted`): the same offset for
  every date of a patient and in every export, so intervals are kept.
- Free text a person typed (`ReleasedText`) is shown only where a registry-admin released that
  exact value (FreeTextRelease); nothing is released by default.

The registry's kinds are listed here; an add-on app registers its own kinds from its
AppConfig.ready() with `register(kind, fields)`, so this module imports no add-on.
"""

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from registry import quantities

RELATIVE = "relative"
SHIFTED = "shifted"
DATE_MODES = {RELATIVE: _("days since the first procedure"), SHIFTED: _("dates shifted per patient")}


def date_shift_days(patient_id):
    """The patient's secret date offset, 1-364 days (never 0, which would leave the real dates),
    the same in every export."""
    key = (getattr(settings, "DEIDENTIFICATION_KEY", "") or settings.SECRET_KEY).encode()
    digest = hmac.new(key, f"date-shift:{patient_id}".encode(), hashlib.sha256).digest()
    return 1 + int.from_bytes(digest[:8], "big") % 364


def _read(record, name):
    """A field of a record given as a mapping (a serializer's answer, a row) or as an object."""
    if record.__class__ is dict:  # most records; no abstract-class check for them
        return record.get(name)
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def _as_date(value):
    # Serializer answers carry ISO strings; rows and instances carry dates.
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Subject:
    """Whose record is projected: the patient (for the date shift) and their first procedure date."""

    patient_id: int | None = None
    first_procedure_date: dt.date | None = None


# ---- transforms: how one allowed field reaches research ------------------------------------


@dataclass(frozen=True)
class Keep:
    """The value as it is (`source` names the field when research sees it under another name)."""

    source: str | None = None

    def apply(self, name, record, rules, subject):
        return _read(record, self.source or name)


@dataclass(frozen=True)
class Day:
    """A date as days since the first procedure (or, in shifted exports, the shifted date)."""

    source: str

    def apply(self, name, record, rules, subject):
        return rules.date(_as_date(_read(record, self.source)), subject.patient_id, subject.first_procedure_date)


@dataclass(frozen=True)
class AgeInMonths:
    """Whole months from the date of birth in `source` to the patient's first procedure."""

    source: str

    def apply(self, name, record, rules, subject):
        return quantities.age_in_months(_as_date(_read(record, self.source)), subject.first_procedure_date)


@dataclass(frozen=True)
class ReleasedText:
    """Free text: shown only when a registry-admin released this exact value of `key` ("model.field")."""

    key: str
    label: str
    source: str | None = None

    def apply(self, name, record, rules, subject):
        return rules.free_text(self.key, _read(record, self.source or name))


@dataclass(frozen=True)
class Each:
    """A list of nested records, each projected through the allow-list of `kind`."""

    kind: str

    def apply(self, name, record, rules, subject):
        items = _read(record, name)
        return None if items is None else [rules.project_for(self.kind, item, subject) for item in items]


@dataclass(frozen=True)
class Nested:
    """One nested record (a mapping), projected through the allow-list of `kind`."""

    kind: str

    def apply(self, name, record, rules, subject):
        item = _read(record, name)
        return None if item is None else rules.project_for(self.kind, item, subject)


KEEP = Keep()
ALLOW_LISTS = {}


def register(kind, fields):
    """Declare what research may see of `kind`: {name research sees: transform}. Called once per kind."""
    if kind in ALLOW_LISTS and ALLOW_LISTS[kind] != fields:
        raise ValueError(f"the research allow-list of {kind!r} is declared twice")
    ALLOW_LISTS[kind] = dict(fields)


def research_fields(kind):
    """The names of the fields research sees of `kind`, in order."""
    return tuple(ALLOW_LISTS[kind])


def free_text_fields():
    """Every free-text field a registry-admin may release values of: {"model.field": what it is}."""
    return {
        transform.key: transform.label
        for fields in ALLOW_LISTS.values()
        for transform in fields.values()
        if isinstance(transform, ReleasedText)
    }


RECORD = {"id": KEEP, "version": KEEP}
register(
    "patient",
    {
        **RECORD,
        "study_id": KEEP,
        "site": KEEP,  # the code of the centre, a few per registry
        "sex": KEEP,
        "cp_subtype": KEEP,
        "etiology": KEEP,
        "gestational_age_weeks": KEEP,
        "gmfcs_level": KEEP,
        "epilepsy": KEEP,
        "age_at_first_procedure_months": AgeInMonths("date_of_birth"),
    },
)
register(
    "harvest",
    {
        **RECORD,
        "patient": KEEP,
        "gcsf_mobilized": KEEP,
        "gcsf_dose_mcg_per_kg_day": KEEP,
        "volume_ml": KEEP,
        "processing_method": KEEP,
        "day": Day("date"),
    },
)
register(
    "product",
    {
        **RECORD,
        "patient": KEEP,
        "harvest": KEEP,
        "tnc_count": KEEP,
        "cd34_count": KEEP,
        "viability_percent": KEEP,
        "sterility": KEEP,
    },
)
register(
    "procedure",
    {
        **RECORD,
        "patient": KEEP,
        "product": KEEP,
        "weight_kg": KEEP,
        "volume_ml": KEEP,
        "puncture_level": KEEP,
        "sedation": KEEP,
        "tnc_per_kg": KEEP,
        "cd34_per_kg": KEEP,
        "age_months": KEEP,
        "months_since_procedure": KEEP,
        "day": Day("date"),
    },
)
register(
    "adverseevent",
    {
        **RECORD,
        "patient": KEEP,
        "procedure": KEEP,
        "term": KEEP,  # a CTCAE term: controlled vocabulary (registry.ctcae)
        "term_other": ReleasedText("adverseevent.term_other", _("Adverse event: the term typed for Other, specify")),
        "grade": KEEP,
        "serious": KEEP,
        "outcome": KEEP,
        "onset_day": Day("onset_date"),
    },
)
# Muscle group, side and missing-data code are controlled vocabulary.
register(
    "visit-score",
    {
        "id": KEEP,
        "instrument": KEEP,
        "muscle": KEEP,
        "side": KEEP,
        "value": KEEP,
        "missing": KEEP,
        "display_value": KEEP,
    },
)
register(
    "visit-imaging",
    {
        "id": KEEP,
        "status": KEEP,
        "usable": KEEP,
        "counts": KEEP,
        "in_change": KEEP,
        "fa_mean": KEEP,
        "fa_wm_mean": KEEP,
        "md_mean": KEEP,
    },
)
register(
    "visit",
    {
        **RECORD,
        "patient": KEEP,
        "kind": KEEP,
        "months_since_procedure": KEEP,
        "age_months": KEEP,
        "timepoint": KEEP,
        "in_window": KEEP,
        "scores": Each("visit-score"),
        "imaging": Each("visit-imaging"),
        "day": Day("date"),
    },
)
register(
    "instrument",
    {
        **RECORD,
        "code": KEEP,
        "name": KEEP,
        "min_value": KEEP,
        "max_value": KEEP,
        "higher_is_better": KEEP,
        "unit": KEEP,
        "integer_only": KEEP,
        "value_labels": KEEP,
        "written_as_label": KEEP,
        "per_muscle_group": KEEP,
    },
)
register(
    "score",
    {
        **RECORD,
        "patient": KEEP,
        "visit": KEEP,
        "instrument": KEEP,
        "muscle": KEEP,
        "side": KEEP,
        "value": KEEP,
        "missing": KEEP,
        "display_value": KEEP,
        "assessor": ReleasedText("score.assessor", _("Score: assessor (a person's name)")),
    },
)


@dataclass(frozen=True)
class Rules:
    """De-identification for one export or view: its date mode and the released free-text values."""

    date_mode: str = RELATIVE
    released: frozenset = field(default_factory=frozenset)  # of ("model.field", exact value)

    def date(self, value, patient_id, first_procedure_date):
        """A date as this export shows it: days since the first procedure, or shifted ISO date."""
        if value is None:
            return None
        if self.date_mode == SHIFTED:
            if patient_id is None:
                raise ValueError("a shifted date needs the patient")
            return (value - dt.timedelta(days=date_shift_days(patient_id))).isoformat()
        return quantities.days_between(first_procedure_date, value)

    def date_column(self, stem):
        """The column name for a date: `visit_day` (relative) or `visit_date_shifted`."""
        return f"{stem}_day" if self.date_mode == RELATIVE else f"{stem}_date_shifted"

    def free_text(self, key, value):
        """`value` of the free-text field `key` if that exact value was released, else None."""
        return value if value not in (None, "") and (key, value) in self.released else None

    def project(self, kind, record, *, patient_id=None, first_procedure_date=None):
        """What research sees of `record` (a mapping or an object) of `kind`: the allowed fields only.

        `patient_id` is needed for shifted dates, `first_procedure_date` for days and ages.
        """
        return self.project_for(kind, record, Subject(patient_id, first_procedure_date))

    def project_for(self, kind, record, subject):
        return {name: transform.apply(name, record, self, subject) for name, transform in ALLOW_LISTS[kind].items()}


def rules(date_mode=RELATIVE):
    """The rules in force now (free-text releases are read from the database)."""
    # Looked up by name: the models import this module for the list of releasable fields.
    FreeTextRelease = apps.get_model("registry", "FreeTextRelease")
    if date_mode not in DATE_MODES:
        raise ValueError(f"date mode must be one of {sorted(DATE_MODES)}")
    return Rules(date_mode=date_mode, released=frozenset(FreeTextRelease.objects.values_list("field", "value")))
