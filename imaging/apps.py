"""Diffusion imaging: scans, their processing by Celery workers, FA results and regions."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImagingConfig(AppConfig):
    name = "imaging"
    verbose_name = _("Diffusion imaging")

    def ready(self):
        # Research's allow-lists of scans, ROIs and provenance live with the models they describe.
        from imaging import deidentify  # noqa: F401
