"""Celery tasks: process a scan (thin wrapper over the services), requeue stuck scans."""

import datetime as dt

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings

from imaging import services


@worker_init.connect
def preload_pipeline(**kwargs):
    """Import dipy and matplotlib once in the worker, before it forks, not in every task."""
    from imaging.dti.pipeline import preload

    preload()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=3)
def process_scan(self, scan_id):
    """Compute the scan's maps, QC and summary; a rerun replaces the current result atomically.

    Retries only transient errors (database, broker, network); a bad input fails the scan
    with a message for people at once.
    """
    worker = self.request.hostname or ""
    try:
        return services.scan_process(scan_id, worker=worker)
    except services.TRANSIENT_ERRORS as error:
        final = self.request.retries >= self.max_retries
        services.scan_mark_retrying(scan_id, worker, error, final=final)
        if final:
            raise
        raise self.retry(exc=error, countdown=min(60, 5 * 2**self.request.retries)) from error


@shared_task
def requeue_stuck_scans():
    """Scans queued or running past the timeout go back on the queue (a worker died, a message was lost)."""
    return services.scans_requeue_stuck(dt.timedelta(minutes=settings.IMAGING_STUCK_AFTER_MINUTES))
