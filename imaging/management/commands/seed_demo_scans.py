"""Give the demo patients synthetic diffusion scans at baseline and follow-up, queued for the
worker; FA in the tracts is a little higher at follow-up, as in the case series. Regions are drawn
on each baseline scan and carried to the follow-ups once the worker has processed them (the scan page
of a follow-up shows them over its FA, for a radiologist to accept). The demo's acquisition protocol
is set too, so QC compares each scan with it and with the patient's baseline.

Only into the demo as seed_demo loaded it: when the registry has no scan yet and its visits are
exactly the demo's own; otherwise it changes nothing, so a visit somebody entered never gets a
synthetic scan. Like seed_demo, with DEBUG=false it runs only when asked.
"""

import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand

from imaging import services
from imaging.dti import make_phantom
from imaging.models import AcquisitionProtocol, Scan
from registry.management.commands.seed_demo import DEMO_PATIENTS, demo_visit_days, refuse_unless_asked
from registry.models import Visit

# FA rise of the tract regions at follow-up, per demo patient (the series reported a rise).
FOLLOW_UP_FA_RISE = {"CP-001": 0.04, "CP-002": 0.05, "CP-003": 0.03}
# Regions drawn on the baseline scan only (phantom tract label -> region code); the worker carries
# them to the follow-ups once both are processed.
BASELINE_REGIONS = {5: "cst-l", 10: "cst-r", 6: "plic-l", 11: "plic-r", 9: "cc-body"}


class Command(BaseCommand):
    help = "Queue synthetic diffusion scans for the demo's visits, when the registry holds only the demo."

    def add_arguments(self, parser):
        parser.add_argument("--shape", default="64,64,40", help="phantom grid, e.g. 96,96,60")
        parser.add_argument(
            "--allow-production", action="store_true", help="load the demo scans even though DEBUG is off"
        )

    def handle(self, shape, allow_production=False, **options):
        refuse_unless_asked(allow_production)
        shape = tuple(int(size) for size in shape.split(","))
        visits = demo_visits()
        if Scan.objects.exists() or not visits or Visit.objects.count() != len(visits):
            self.stdout.write(
                "Demo scans not loaded: they go only into the demo as seed_demo loaded it "
                "(no scan yet, no visit besides the demo's). Nothing was changed."
            )
            return
        radiologist = get_user_model().objects.filter(username="radiology").first()
        if not AcquisitionProtocol.objects.exists():
            # The demo's acquisition, as registry-admins would set it: the QC protocol check compares with it.
            AcquisitionProtocol.objects.create(
                name="DTI b=1000, 32 directions, 2 mm", b_values=[1000], min_directions=32, voxel_size=[2, 2, 2]
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
                    scan, _created = services.scan_register(
                        visit,
                        radiologist,
                        dwi=File(dwi, name=Path(paths["dwi"]).name),
                        bval=File(bval, name="dwi.bval"),
                        bvec=File(bvec, name="dwi.bvec"),
                    )
                if visit.kind == Visit.Kind.BASELINE:
                    drawn = Path(folder) / "regions.nii.gz"
                    regions = np.where(np.isin(phantom.labels, list(BASELINE_REGIONS)), phantom.labels, 0)
                    nib.save(nib.Nifti1Image(regions.astype(np.int16), phantom.affine), drawn)
                    names = {str(label): code for label, code in BASELINE_REGIONS.items()}
                    with open(drawn, "rb") as labels:
                        services.labels_apply(scan, radiologist, File(labels, name=drawn.name), names)
            queued += 1
        self.stdout.write(f"Demo scans: {queued} queued for the worker.")


def demo_visits():
    """The visits seed_demo created (the demo patient, date and kind), in study and date order."""
    found = []
    for spec in DEMO_PATIENTS:
        for day, kind in demo_visit_days(spec):
            found += Visit.objects.filter(
                patient__study_id=spec["patient"]["study_id"], patient__mrn=spec["patient"]["mrn"], date=day, kind=kind
            ).select_related("patient")
    return found
