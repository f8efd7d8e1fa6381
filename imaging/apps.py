"""Diffusion imaging: scans, their processing by Celery workers, FA results and regions."""

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate
from django.utils.translation import gettext_lazy as _


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = _("Diffusion imaging")

    def ready(self):
        # Research's allow-lists of scans, ROIs and provenance live with the models they describe.
        # The Celery tasks are registered with the app in every process (web too), so the services can
        # queue them by name and an eager set-up runs them in place.
        from imaging import (
            atlas,  # noqa: F401  (its start-up check of the atlas settings)
            deidentify,  # noqa: F401
            tasks,  # noqa: F401
        )
        from imaging.selectors import measures_in_full, visit_imaging
        from imaging.synthetic import add_processed_scans
        from registry.course import provide_visit_measures
        from registry.synthetic import provide_visit_records

        provide_visit_measures(visit_imaging, names=measures_in_full)
        provide_visit_records(add_processed_scans)
        post_migrate.connect(self.grant_roles, sender=self)
        # However a scan or a result is deleted (admin, queryset, cascade), its stored files go
        # once the deletion is committed.
        from imaging import storage
        from imaging.models import DiffusionResult, Scan

        post_delete.connect(storage.scan_files_deleted, sender=Scan, dispatch_uid="imaging-scan-files")
        post_delete.connect(storage.result_files_deleted, sender=DiffusionResult, dispatch_uid="imaging-result-files")

    def grant_roles(self, using, **kwargs):
        from registry.roles import (
            EVERY_ACTION,
            HEMATOLOGY,
            HEMATOLOGY_LEAD,
            RADIOLOGY,
            RESEARCH,
            codenames,
            grant_role_permissions,
        )

        results = codenames(["scan", "diffusionresult", "roimeasurement"], ["view"])
        grant_role_permissions(
            self.label,
            {
                HEMATOLOGY: results,
                HEMATOLOGY_LEAD: results,
                RADIOLOGY: codenames(["scan"], ["add", "change", "view"])
                + codenames(["diffusionresult"], ["view"])
                + codenames(["roimeasurement"], EVERY_ACTION),
                RESEARCH: results,
            },
            using,
        )
