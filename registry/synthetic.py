"""A synthetic cohort at a multi-centre registry's size, for load tests and benchmarks (manage.py seed_load).

Records are written in bulk (bulk_create, with one history row each saying they were loaded), not
through the services: a thousand patients take seconds. Every patient has a harvest, a product, one
intrathecal procedure with a grade 1 adverse event, ten visits (baseline, follow-ups at 3, 6, 9, 12,
18, 24 and 30 months, two unscheduled) and four scores per visit (GMFM-88, GMFM-66, GMFCS, MACS).
Add-ons add records of those visits through :func:`provide_visit_records` (imaging: processed scans),
so this module names none of them.
"""

import datetime as dt
import random
import re
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection, transaction
from simple_history.utils import bulk_create_with_history

from registry import quantities
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Site,
    Visit,
)

STUDY_ID_PREFIX = "LD-"
CHANGE_REASON = "seed_load: synthetic patient for load tests"
# Months after the procedure of each follow-up (30 is outside the schedule), and of the unscheduled visits.
FOLLOW_UP_MONTHS = (3, 6, 9, 12, 18, 24, 30)
UNSCHEDULED_MONTHS = (1, 15)
INSTRUMENTS = ("GMFM-88", "GMFM-66", "GMFCS", "MACS")
ADVERSE_EVENT_TERMS = ("Headache", "Fever", "Back pain")
# Procedures fall in these years, so that even the 30-month follow-up lies in the past.
FIRST_PROCEDURE = dt.date(2020, 1, 6)
PROCEDURE_SPREAD_DAYS = 4 * 365
BATCH_PATIENTS = 500


@dataclass(frozen=True)
class PlannedVisit:
    """A loaded visit and what it stands for: months after the procedure it was planned at
    (0 for the baseline, the week before it) and whether it was scheduled."""

    visit: Visit
    months: int
    scheduled: bool
    rng_seed: int


_visit_record_providers = []


def provide_visit_records(provider):
    """Register ``provider(planned_visits, *, change_reason) -> {label: count}``: an add-on's records of
    the loaded visits (called from its AppConfig.ready)."""
    if provider not in _visit_record_providers:
        _visit_record_providers.append(provider)


def next_number():
    """The number after the highest synthetic study ID already in the registry."""
    numbers = [
        int(match.group(1))
        for study_id in Patient.objects.filter(study_id__startswith=STUDY_ID_PREFIX).values_list("study_id", flat=True)
        if (match := re.fullmatch(re.escape(STUDY_ID_PREFIX) + r"(\d+)", study_id))
    ]
    return max(numbers, default=0) + 1


def load(patients, *, visits=10, seed=0):
    """Load ``patients`` synthetic patients with their whole course; returns {what: how many}.

    ``visits``: the first 1 to 10 visits of the plan (baseline first), e.g. fewer for small tests.
    """
    counts = {}
    start = next_number()
    instruments = {code: Instrument.objects.get(code=code) for code in INSTRUMENTS}
    plan = _visit_plan()[:visits]
    for offset in range(0, patients, BATCH_PATIENTS):
        numbers = range(start + offset, start + min(offset + BATCH_PATIENTS, patients))
        with transaction.atomic():
            for label, count in _load_batch(numbers, instruments, plan, seed).items():
                counts[label] = counts.get(label, 0) + count
    if connection.vendor == "postgresql":
        # Fresh statistics, so the planner sees tables of thousands of rows at once rather than after
        # autovacuum's next pass (until then it may sort whole tables to give one page of a list).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return counts


def _bulk(objects, model):
    return bulk_create_with_history(objects, model, batch_size=2000, default_change_reason=CHANGE_REASON)


def _load_batch(numbers, instruments, plan, seed):
    rngs = {number: random.Random(f"{seed}:{number}") for number in numbers}
    site = Site.default()
    patients = _bulk([_patient(number, rngs[number], site) for number in numbers], Patient)
    procedure_dates = {
        patient.pk: FIRST_PROCEDURE + dt.timedelta(days=rngs[number].randrange(PROCEDURE_SPREAD_DAYS))
        for number, patient in zip(numbers, patients)
    }
    harvests = _bulk(
        [
            BoneMarrowHarvest(
                patient=patient,
                date=procedure_dates[patient.pk] - dt.timedelta(days=1),
                gcsf_mobilized=True,
                gcsf_dose_mcg_per_kg_day=Decimal("10"),
                volume_ml=Decimal(rngs[number].randrange(120, 260)),
                processing_method=BoneMarrowHarvest.Processing.FICOLL,
            )
            for number, patient in zip(numbers, patients)
        ],
        BoneMarrowHarvest,
    )
    products = _bulk([_product(harvest, rngs[number]) for number, harvest in zip(numbers, harvests)], CellProduct)
    procedures = _bulk(
        [
            IntrathecalProcedure(
                patient=patient,
                product=product,
                date=procedure_dates[patient.pk],
                weight_kg=Decimal(rngs[number].randrange(1100, 3500)) / 100,
                volume_ml=Decimal("10"),
            )
            for number, patient, product in zip(numbers, patients, products)
        ],
        IntrathecalProcedure,
    )
    events = _bulk(
        [
            AdverseEvent(
                procedure=procedure,
                onset_date=procedure.date + dt.timedelta(days=1),
                term=rngs[number].choice(ADVERSE_EVENT_TERMS),
                grade=1,
                outcome=AdverseEvent.Outcome.RECOVERED,
            )
            for number, procedure in zip(numbers, procedures)
        ],
        AdverseEvent,
    )
    plans = [(patient, number, months, kind) for number, patient in zip(numbers, patients) for months, kind in plan]
    visits = _bulk(
        [
            Visit(patient=patient, date=_visit_date(procedure_dates[patient.pk], months), kind=kind)
            for patient, _number, months, kind in plans
        ],
        Visit,
    )
    planned = [
        PlannedVisit(visit, months, kind != Visit.Kind.UNSCHEDULED, hash((seed, number, index)))
        for index, (visit, (_patient, number, months, kind)) in enumerate(zip(visits, plans))
    ]
    levels = {patient.pk: patient.gmfcs_level for patient in patients}
    scores = _bulk([score for item in planned for score in _scores(item, levels, instruments)], Score)
    counts = {"patients": len(patients), "adverse events": len(events), "visits": len(visits), "scores": len(scores)}
    for provider in _visit_record_providers:
        counts.update(provider(planned, change_reason=CHANGE_REASON))
    return counts


def _patient(number, rng, site):
    birth = dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(7 * 365))
    return Patient(
        site=site,
        study_id=f"{STUDY_ID_PREFIX}{number:05d}",
        given_name="Synthetic",
        family_name=f"Patient {number}",
        mrn=f"{STUDY_ID_PREFIX}MRN-{number:05d}",
        date_of_birth=birth,
        sex=rng.choice(Patient.Sex.values),
        cp_subtype=rng.choice(Patient.Subtype.values),
        etiology=rng.choice(Patient.Etiology.values),
        gestational_age_weeks=rng.randrange(28, 42),
        gmfcs_level=rng.randrange(1, 6),
        epilepsy=rng.random() < 0.4,
        consent_date=birth + dt.timedelta(days=365 * 2),
    )


def _product(harvest, rng):
    tnc = rng.randrange(20, 80) * 100_000_000
    return CellProduct(
        harvest=harvest,
        tnc_count=tnc,
        cd34_count=tnc // rng.randrange(80, 200),
        viability_percent=Decimal(rng.randrange(900, 995)) / 10,
        sterility=CellProduct.Sterility.NEGATIVE,
    )


def _visit_plan():
    """(months after the procedure, kind) of the ten visits of a patient."""
    plan = [(0, Visit.Kind.BASELINE)]
    plan += [(months, Visit.Kind.FOLLOW_UP) for months in FOLLOW_UP_MONTHS]
    plan += [(months, Visit.Kind.UNSCHEDULED) for months in UNSCHEDULED_MONTHS]
    return plan


def _visit_date(procedure_date, months):
    if months == 0:
        return procedure_date - dt.timedelta(days=7)  # the baseline, the week before
    return quantities.add_months(procedure_date, months)


def _scores(item, levels, instruments):
    """GMFM rising a little with the months since the procedure; GMFCS and MACS levels that stay."""
    rng = random.Random(item.rng_seed)
    level, months = levels[item.visit.patient_id], item.months
    base = 90 - 15 * level
    gmfm88 = min(100, max(0, base + 0.4 * months + rng.uniform(-3, 3)))
    gmfm66 = min(100, max(0, base - 5 + 0.3 * months + rng.uniform(-3, 3)))
    values = {
        "GMFM-88": round(gmfm88, 1),
        "GMFM-66": round(gmfm66, 1),
        "GMFCS": level,
        "MACS": min(5, max(1, level + rng.choice((-1, 0, 0, 1)))),
    }
    return [
        Score(visit=item.visit, instrument=instruments[code], value=Decimal(str(value)), assessor="Load test")
        for code, value in values.items()
    ]
