"""Give the demo patients synthetic diffusion scans at baseline and follow-up, queued for the
worker; FA in the tracts is a little higher at follow-up, as in the case series.

Idempotent: a visit that has a scan is left alone.
"""

import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand

from imaging import services
from imaging.dti import make_phantom
from registry.models import Visit

# FA rise of the tract regions at follow-up, per demo patient (the series reported a rise).
FOLLOW_UP_FA_RISE = {"CP-001": 0.04, "CP-002": 0.05, "CP-003": 0.03}


class Command(BaseCommand):
    help = "Queue synthetic diffusion scans for the demo patients' visits (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--shape", default="64,64,40", help="phantom grid, e.g. 96,96,60")

    def handle(self, shape, **options):
        shape = tuple(int(size) for size in shape.split(","))
        radiologist = get_user_model().objects.filter(username="radiology").first()
        visits = (
            Visit.objects.filter(patient__study_id__in=FOLLOW_UP_FA_RISE, scans__isnull=True)
            .select_related("patient")
            .order_by("patient__study_id", "date")
        )
        queued = 0
        for visit in visits:
            rise = FOLLOW_UP_FA_RISE[visit.patient.study_id] if visit.kind == Visit.Kind.FOLLOW_UP else 0.0
            phantom = make_phantom(shape=shape, n_b0=2, n_dirs=32, snr=30, fa_boost=rise, seed=visit.pk)
            with tempfile.TemporaryDirectory() as folder:
                paths = phantom.save(folder)
                with (
                    open(paths["dwi"], "rb") as dwi,
                    open(paths["bval"], "rb") as bval,
                    open(paths["bvec"], "rb") as bvec,
                ):
                    services.scan_register(
                        visit,
                        radiologist,
                        dwi=File(dwi, name=Path(paths["dwi"]).name),
                        bval=File(bval, name="dwi.bval"),
                        bvec=File(bvec, name="dwi.bvec"),
                    )
            queued += 1
        self.stdout.write(f"Demo scans: {queued} queued for the worker.")
