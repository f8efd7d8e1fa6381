"""Celery tasks: process a scan (thin wrapper over the services), carry regions to it, sweep for lost attempts."""

import logging

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings

from imaging import atlas, regions, services
from imaging.dti import DiffusionInputError
from imaging.models import Scan
from imaging.storage import StoredFileError

log = logging.getLogger(__name__)


@worker_init.connect
def preload_pipeline(**kwargs):
    """Import the pipeline's libraries once in the worker, before it forks, not in every task."""
    from imaging.dti.pipeline import preload

    preload()


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    time_limit=settings.IMAGING_TASK_TIME_LIMIT_SECONDS,
)
def process_scan(self, scan_id):
    """Claim the scan and compute its maps, QC and summary; a rerun replaces the current result atomically.

    A delivery for a scan another attempt is working on does nothing (exactly once). Retries only
    transient errors (database, broker, network); a bad input fails the scan with a message at once.
    """
    final = self.request.retries >= self.max_retries
    try:
        return services.scan_process(
            scan_id, worker=self.request.hostname or "", heartbeat=not self.request.is_eager, final=final
        )
    except services.TRANSIENT_ERRORS as error:
        if final:
            raise
        raise self.retry(exc=error, countdown=min(60, 5 * 2**self.request.retries)) from error


@shared_task
def sweep_scans():
    """Scans whose attempt was lost (stale heartbeat) go back on the queue; unsent scans are sent."""
    return services.scans_sweep()


def _retry_transient(task, error):
    """A transient error (the database busy or away, a network blip) is tried again a little later;
    after the last try it is raised."""
    if task.request.retries >= task.max_retries:
        raise error
    raise task.retry(exc=error, countdown=min(60, 5 * 2**task.request.retries)) from error


@shared_task(bind=True, acks_late=True, max_retries=3, time_limit=settings.IMAGING_TASK_TIME_LIMIT_SECONDS)
def carry_regions(self, scan_id):
    """Register the scan's FA to the scan the patient's regions were drawn on and measure them there.

    Damaged or missing maps, or a label image that no longer reads, leave the scan without carried
    regions (logged); the next labelling or processing of the patient's scans carries again. A busy
    database (two carries storing at once on SQLite) is tried again."""
    try:
        carry = regions.regions_carry_to(scan_id)
    except (StoredFileError, DiffusionInputError, Scan.DoesNotExist) as error:
        log.warning("scan %s: regions not carried: %s", scan_id, error)
        return None
    except services.TRANSIENT_ERRORS as error:
        _retry_transient(self, error)
    return carry.pk if carry else None


@shared_task(bind=True, acks_late=True, max_retries=3, time_limit=settings.IMAGING_TASK_TIME_LIMIT_SECONDS)
def measure_atlas_regions(self, scan_id):
    """Register the site's template FA to the scan and measure the atlas regions on it (see imaging.atlas).

    Damaged or missing maps leave the scan without atlas regions (logged); so does an atlas that stopped
    being usable after start-up (its files changed), which the start-up check then names."""
    try:
        return [roi.pk for roi in atlas.measure(scan_id)]
    except (StoredFileError, atlas.AtlasError, Scan.DoesNotExist) as error:
        log.warning("scan %s: atlas regions not measured: %s", scan_id, error)
        return None
    except services.TRANSIENT_ERRORS as error:
        _retry_transient(self, error)
