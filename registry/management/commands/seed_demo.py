"""Load the demo: three fictitious children after HIE, treated and followed as in the case series.

Idempotent: patients and accounts that exist are left as they are.
"""

import datetime as dt
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from registry import quantities, services
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH

DEMO_ACCOUNTS = [
    ("hematology", HEMATOLOGY, "demo-hematology"),
    ("radiology", RADIOLOGY, "demo-radiology"),
    ("research", RESEARCH, "demo-research"),
    ("admin", REGISTRY_ADMIN, "demo-admin"),
]

# Follow-up at 6, 9 and 10 months as in the published series; names are fictitious.
DEMO_PATIENTS = [
    dict(
        patient=dict(
            study_id="CP-001",
            given_name="Mateo",
            family_name="Garza Ruiz",
            mrn="DEMO-100231",
            date_of_birth=dt.date(2018, 3, 14),
            sex="M",
            cp_subtype="spastic-quadriplegia",
            etiology="hie",
            gestational_age_weeks=39,
            gmfcs_level=4,
            epilepsy=True,
            consent_date=dt.date(2024, 1, 22),
        ),
        harvest=dict(
            date=dt.date(2024, 2, 5),
            gcsf_mobilized=True,
            gcsf_dose_mcg_per_kg_day=Decimal("10"),
            volume_ml=Decimal("180"),
            processing_method="ficoll",
        ),
        product=dict(
            tnc_count=4_140_000_000, cd34_count=30_600_000, viability_percent=Decimal("96.5"), sterility="negative"
        ),
        procedure=dict(
            date=dt.date(2024, 2, 6),
            weight_kg=Decimal("18.0"),
            volume_ml=Decimal("10.0"),
            puncture_level="L4-L5",
            sedation="sedation",
        ),
        baseline=dt.date(2024, 1, 29),
        follow_up_months=6,
        scores={"GMFM-88": ("31.2", "38.6"), "GMFCS": ("4", "4")},
        adverse_event=None,
    ),
    dict(
        patient=dict(
            study_id="CP-002",
            given_name="Valeria",
            family_name="Treviño Salas",
            mrn="DEMO-100487",
            date_of_birth=dt.date(2016, 7, 22),
            sex="F",
            cp_subtype="spastic-diplegia",
            etiology="hie",
            gestational_age_weeks=38,
            gmfcs_level=3,
            epilepsy=False,
            consent_date=dt.date(2024, 3, 4),
        ),
        harvest=dict(
            date=dt.date(2024, 3, 18),
            gcsf_mobilized=True,
            gcsf_dose_mcg_per_kg_day=Decimal("10"),
            volume_ml=Decimal("240"),
            processing_method="ficoll",
        ),
        product=dict(
            tnc_count=5_520_000_000, cd34_count=41_800_000, viability_percent=Decimal("97.8"), sterility="negative"
        ),
        procedure=dict(
            date=dt.date(2024, 3, 19),
            weight_kg=Decimal("23.5"),
            volume_ml=Decimal("10.0"),
            puncture_level="L3-L4",
            sedation="sedation",
        ),
        baseline=dt.date(2024, 3, 11),
        follow_up_months=9,
        scores={"GMFM-88": ("52.7", "58.9"), "GMFCS": ("3", "3")},
        adverse_event=dict(term="Headache", grade=1, serious=False, outcome="recovered", days_after=1),
    ),
    dict(
        patient=dict(
            study_id="CP-003",
            given_name="Santiago",
            family_name="Leal Cantú",
            mrn="DEMO-100652",
            date_of_birth=dt.date(2019, 11, 2),
            sex="M",
            cp_subtype="spastic-quadriplegia",
            etiology="hie",
            gestational_age_weeks=40,
            gmfcs_level=5,
            epilepsy=True,
            consent_date=dt.date(2024, 4, 29),
        ),
        harvest=dict(
            date=dt.date(2024, 5, 13),
            gcsf_mobilized=True,
            gcsf_dose_mcg_per_kg_day=Decimal("10"),
            volume_ml=Decimal("150"),
            processing_method="ficoll",
        ),
        product=dict(
            tnc_count=3_060_000_000, cd34_count=19_800_000, viability_percent=Decimal("95.1"), sterility="negative"
        ),
        procedure=dict(
            date=dt.date(2024, 5, 14),
            weight_kg=Decimal("13.2"),
            volume_ml=Decimal("8.0"),
            puncture_level="L4-L5",
            sedation="general",
        ),
        baseline=dt.date(2024, 5, 6),
        follow_up_months=10,
        scores={"GMFM-88": ("18.4", "23.1"), "GMFCS": ("5", "5")},
        adverse_event=dict(term="Fever", grade=1, serious=False, outcome="recovered", days_after=0),
    ),
]


class Command(BaseCommand):
    help = "Load the demo patients and accounts (safe to run again)."

    def handle(self, **options):
        actor = self.ensure_accounts()
        created = 0
        for spec in DEMO_PATIENTS:
            if Patient.objects.filter(study_id=spec["patient"]["study_id"]).exists():
                continue
            with transaction.atomic():
                self.create_patient(spec, actor)
            created += 1
        self.stdout.write(f"Demo patients: {created} created, {len(DEMO_PATIENTS) - created} already present.")
        self.stdout.write("Demo accounts (user / password / role):")
        for username, role, password in DEMO_ACCOUNTS:
            self.stdout.write(f"  {username:<11} {password:<16} {role}")

    def ensure_accounts(self):
        User = get_user_model()
        for username, role, password in DEMO_ACCOUNTS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = role == REGISTRY_ADMIN
                user.save()
                user.groups.set([Group.objects.get(name=role)])
        return User.objects.get(username="hematology")

    def create_patient(self, spec, actor):
        create = services.record_create
        patient = create(Patient, actor, **spec["patient"])
        harvest = create(BoneMarrowHarvest, actor, patient=patient, **spec["harvest"])
        product = create(CellProduct, actor, harvest=harvest, **spec["product"])
        procedure = create(IntrathecalProcedure, actor, patient=patient, product=product, **spec["procedure"])
        if spec["adverse_event"]:
            event = dict(spec["adverse_event"])
            onset = procedure.date + dt.timedelta(days=event.pop("days_after"))
            create(AdverseEvent, actor, procedure=procedure, onset_date=onset, **event)
        baseline = create(Visit, actor, patient=patient, date=spec["baseline"], kind="baseline")
        follow_up = create(
            Visit,
            actor,
            patient=patient,
            kind="follow-up",
            date=quantities.add_months(procedure.date, spec["follow_up_months"]),
        )
        for code, (before, after) in spec["scores"].items():
            instrument = Instrument.objects.get(code=code)
            create(
                Score,
                actor,
                visit=baseline,
                instrument=instrument,
                value=Decimal(before),
                assessor="Demo physiotherapist",
            )
            create(
                Score,
                actor,
                visit=follow_up,
                instrument=instrument,
                value=Decimal(after),
                assessor="Demo physiotherapist",
            )
