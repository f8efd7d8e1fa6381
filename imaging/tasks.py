"""Celery tasks: process a scan (thin wrapper over the services), sweep for lost attempts."""

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings

from imaging import services


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
