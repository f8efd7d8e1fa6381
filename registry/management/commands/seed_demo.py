"""Load the demo: three fictitious children after HIE, treated and followed as in the case series,
at two sites: CP-001 and CP-002 at the registry's default site, CP-003 at a second centre.

Only into an empty registry (no patient, no account): on any later run it changes nothing, so a
deleted demo account stays deleted. The demo accounts' passwords are published, so with
DEBUG=false it loads only when asked (--allow-production or LOAD_DEMO=true).
"""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry import quantities, queries, services, signoff
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    MuscleGroup,
    Patient,
    Score,
    Signature,
    Site,
    SiteMembership,
    Visit,
)
from registry.roles import HEMATOLOGY, HEMATOLOGY_LEAD, RADIOLOGY, REGISTRY_ADMIN, RESEARCH

FIRST_SITE, SECOND_SITE = "first", "second"
SECOND_SITE_CODE, SECOND_SITE_NAME = "NORTE", "Hospital del Norte (demo)"
# (user, role, password, site): hematology and radiology belong to the first site and see only its
# patients; hematology-b is the second site's; research and admin see every site.
DEMO_ACCOUNTS = [
    ("hematology", HEMATOLOGY, "demo-hematology", FIRST_SITE),
    ("hematology-b", HEMATOLOGY, "demo-hematology-b", SECOND_SITE),
    ("lead", HEMATOLOGY_LEAD, "demo-lead", FIRST_SITE),
    ("radiology", RADIOLOGY, "demo-radiology", FIRST_SITE),
    ("research", RESEARCH, "demo-research", None),
    ("admin", REGISTRY_ADMIN, "demo-admin", None),
]
# The site of each demo patient.
DEMO_PATIENT_SITES = {"CP-001": FIRST_SITE, "CP-002": FIRST_SITE, "CP-003": SECOND_SITE}

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
        # Modified Ashworth per muscle group and side, (baseline, follow-up) as clinicians write it.
        muscle_scores={
            "MAS": {
                ("hip-adductors", "left"): ("2", "1+"),
                ("hip-adductors", "right"): ("1+", "1"),
                ("hamstrings", "left"): ("2", "1+"),
                ("hamstrings", "right"): ("2", "2"),
                ("gastrocnemius-soleus", "left"): ("3", "2"),
                ("gastrocnemius-soleus", "right"): ("3", "2"),
            }
        },
        # Scores recorded as missing at the follow-up, with the reason.
        missing_at_follow_up={"CFCS": "unable-to-assess"},
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


def refuse_unless_asked(allow_production):
    """With DEBUG=false the demo (published passwords) loads only when asked explicitly."""
    if not (settings.DEBUG or settings.LOAD_DEMO or allow_production):
        raise CommandError(
            "The demo was not loaded: its accounts have published passwords and DEBUG is off. "
            "To load it anyway (a trial installation), run with --allow-production or set LOAD_DEMO=true."
        )


def demo_visit_days(spec):
    """The (date, kind) of each visit the demo gives a patient: baseline, and the follow-up of the series."""
    follow_up = quantities.add_months(spec["procedure"]["date"], spec["follow_up_months"])
    return [(spec["baseline"], Visit.Kind.BASELINE), (follow_up, Visit.Kind.FOLLOW_UP)]


class Command(BaseCommand):
    help = "Load the demo patients and accounts into an empty registry (later runs change nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--allow-production", action="store_true", help="load the demo even though DEBUG is off")

    def handle(self, allow_production=False, **options):
        refuse_unless_asked(allow_production)
        patients, accounts = Patient.objects.count(), get_user_model().objects.count()
        if patients or accounts:
            self.stdout.write(
                f"Demo not loaded: the registry already holds {patients} patient(s) and {accounts} account(s), "
                "and the demo loads only into an empty registry. Nothing was changed."
            )
            return
        with transaction.atomic():
            sites = self.create_sites()
            actors = self.create_accounts(sites)
            for spec in DEMO_PATIENTS:
                site = DEMO_PATIENT_SITES[spec["patient"]["study_id"]]
                self.create_patient(spec, actors[site], sites[site])
            self.create_quality_work(actors[FIRST_SITE])
        self.stdout.write(
            f"Demo loaded: {len(DEMO_PATIENTS)} patients at two sites, {sites[FIRST_SITE].code} and "
            f"{sites[SECOND_SITE].code}."
        )
        self.stdout.write("Demo accounts (user / password / role / site):")
        for username, role, password, site in DEMO_ACCOUNTS:
            self.stdout.write(f"  {username:<13} {password:<18} {role:<15} {sites[site].code if site else 'all'}")

    def create_sites(self):
        """The registry's default site (made by the migrations) and the demo's second centre."""
        first = Site.default()
        second, _created = Site.objects.get_or_create(code=SECOND_SITE_CODE, defaults={"name": SECOND_SITE_NAME})
        return {FIRST_SITE: first, SECOND_SITE: second}

    def create_accounts(self, sites):
        """The demo accounts; the hematology account of each site, who enters its patients."""
        User = get_user_model()
        actors = {}
        for username, role, password, site in DEMO_ACCOUNTS:
            user = User.objects.create_user(username, password=password, is_staff=role == REGISTRY_ADMIN)
            user.groups.set([Group.objects.get(name=role)])
            if site:
                SiteMembership.objects.create(user=user, site=sites[site])
                if role == HEMATOLOGY:
                    actors[site] = user
        return actors

    def create_quality_work(self, actor):
        """A question a person asked, and a visit an investigator signed (the rules open their own
        queries once the demo is stored)."""
        procedure = IntrathecalProcedure.objects.get(patient__study_id="CP-002")
        queries.query_open(
            actor=actor,
            record=procedure,
            field="volume_ml",
            text="The infusion sheet says 8 mL; please check the volume infused against it.",
        )
        visit = Visit.objects.get(patient__study_id="CP-001", kind=Visit.Kind.FOLLOW_UP)
        lead = get_user_model().objects.get(username="lead")
        Signature.objects.create(
            patient=visit.patient,
            visit=visit,
            subject=f"{visit} of {visit.patient.study_id}",
            meaning=str(signoff.VISIT_MEANING),
            signed_by=lead,
            signer_name=lead.get_username(),
        )

    def create_patient(self, spec, actor, site):
        create = services.record_create
        patient = create(Patient, actor, site=site, **spec["patient"])
        harvest = create(BoneMarrowHarvest, actor, patient=patient, **spec["harvest"])
        product = create(CellProduct, actor, harvest=harvest, **spec["product"])
        procedure = create(IntrathecalProcedure, actor, patient=patient, product=product, **spec["procedure"])
        if spec["adverse_event"]:
            event = dict(spec["adverse_event"])
            onset = procedure.date + dt.timedelta(days=event.pop("days_after"))
            create(AdverseEvent, actor, procedure=procedure, onset_date=onset, **event)
        baseline, follow_up = (
            create(Visit, actor, patient=patient, date=day, kind=kind) for day, kind in demo_visit_days(spec)
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
        for code, entries in spec.get("muscle_scores", {}).items():
            instrument = Instrument.objects.get(code=code)
            for (muscle, side), values in entries.items():
                for visit, text in zip((baseline, follow_up), values, strict=True):
                    create(
                        Score,
                        actor,
                        visit=visit,
                        instrument=instrument,
                        muscle=MuscleGroup.objects.get(code=muscle),
                        side=side,
                        value=instrument.value_from_text(text),
                        assessor="Demo physiotherapist",
                    )
        for code, reason in spec.get("missing_at_follow_up", {}).items():
            instrument = Instrument.objects.get(code=code)
            create(Score, actor, visit=follow_up, instrument=instrument, value=None, missing=reason)
