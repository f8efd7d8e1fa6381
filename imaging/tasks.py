"""Celery tasks: process a scan (thin wrapper over the services), carry regions to it, sweep for lost attempts."""

import logging
import os

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings

from imaging import atlas, regions, services
from imaging.dti import DiffusionInputError
from imaging.models import Scan
from imaging.storage import StoredFileError

log = logging.getLogger(__name__)


# The number of processes of the worker this module runs in (its --concurrency), None outside a worker.
worker_processes = None


@worker_init.connect
def preload_pipeline(sender=None, **kwargs):
    """Import the pipeline's libraries once in the worker, before it forks, not in every task; note how
    many processes the worker runs, which share the machine's cores."""
    global worker_processes
    from imaging.dti.pipeline import preload

    worker_processes = getattr(sender, "concurrency", None)
    preload()


def pipeline_threads(eager=False):
    """Threads for a standard scan's tensor fit: IMAGING_PIPELINE_THREADS when set, else the cores this
    process may use shared among the worker's processes (one worker process on two cores fits with two
    threads, two processes with one each, so they do not fight for the cores). A task run inside
    another process (eager) uses one."""
    if settings.IMAGING_PIPELINE_THREADS:
        return settings.IMAGING_PIPELINE_THREADS
    if eager or not worker_processes:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // worker_processes)


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
            scan_id,
            worker=self.request.hostname or "",
            heartbeat=not self.request.is_eager,
            final=final,
            threads=pipeline_threads(eager=self.request.is_eager),
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
