"""Who processes a scan, exactly once through crashes and redeliveries.

An attempt claims a scan with a conditional update (the same code on PostgreSQL and SQLite: the
update names the claim it replaces, so of two deliveries at once only one succeeds); while it works
it refreshes a heartbeat; only the owner of the claim may change the scan's processing state or
store a result. An attempt whose heartbeat is stale is lost (its worker died, was killed or cut off):
a later delivery or the sweep takes the scan over and the history says which worker lost it.
"""

import datetime as dt
import logging
import threading
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from imaging.models import Scan, ScanStatusEvent

log = logging.getLogger(__name__)
DATABASE_ERRORS = (OperationalError, InterfaceError)


class ClaimLost(Exception):
    """Another attempt owns the scan now (this one was judged lost): stop, store nothing."""


@dataclass(frozen=True)
class Attempt:
    scan_id: int
    token: str
    worker: str
    number: int


def record_event(scan_id, status, worker="", detail="", params=None):
    """A step of the scan's processing history; `detail` is an English message (marked with
    gettext_noop) with `params` for its placeholders, shown in each reader's language."""
    ScanStatusEvent.objects.create(
        scan_id=scan_id, status=status, worker=worker[:200], detail=str(detail)[:500], params=params or {}
    )


def stale_before(now):
    """Heartbeats older than this belong to lost attempts."""
    return now - dt.timedelta(seconds=settings.IMAGING_STALE_AFTER_SECONDS)


def _stale(limit):
    return Q(heartbeat_at__lt=limit) | Q(heartbeat_at__isnull=True)


def _record_lost(scan_id, worker, heartbeat_at, now):
    if heartbeat_at is None:
        record_event(
            scan_id, ScanStatusEvent.LOST, worker, gettext_noop("attempt lost on %(worker)s"), {"worker": worker or "?"}
        )
    else:
        record_event(
            scan_id,
            ScanStatusEvent.LOST,
            worker,
            gettext_noop("attempt lost on %(worker)s: no sign of life for %(seconds)d s"),
            {"worker": worker or "?", "seconds": int((now - heartbeat_at).total_seconds())},
        )


def _fail_lost(row, now):
    """A scan whose attempts keep being lost (a worker killed for memory or time each time) fails
    with a message instead of being tried for ever."""
    failed = Scan.objects.filter(pk=row["pk"], status=Scan.Status.RUNNING, claim=row["claim"]).update(
        status=Scan.Status.FAILED,
        claim="",
        status_changed_at=now,
        error=_(
            "Processing stopped %(count)d times without finishing (the worker died, ran out of memory "
            "or time). Reprocess the scan with the standard profile or contact the registry team."
        )
        % {"count": row["attempts"]},
    )
    if failed:
        _record_lost(row["pk"], row["claimed_by"], row["heartbeat_at"], now)
        record_event(row["pk"], Scan.Status.FAILED, detail=gettext_noop("too many lost attempts"))
    return bool(failed)


def _row(scan_id):
    return (
        Scan.objects.filter(pk=scan_id)
        .values("pk", "status", "claim", "claimed_by", "heartbeat_at", "attempts")
        .first()
    )


def claim(scan_id, worker):
    """Claim the scan for an attempt on `worker`.

    A queued scan is claimed; so is a running one whose attempt is lost (stale heartbeat), and the
    history records the loss. Returns the Attempt, or None when there is nothing to do: another
    attempt is alive, the scan is done, failed or deleted.
    """
    now = timezone.now()
    limit = stale_before(now)
    row = _row(scan_id)
    if row is None:
        return None
    lost = row["status"] == Scan.Status.RUNNING and (row["heartbeat_at"] is None or row["heartbeat_at"] < limit)
    if row["status"] != Scan.Status.QUEUED and not lost:
        return None
    token = uuid.uuid4().hex
    with transaction.atomic():
        if lost and row["attempts"] >= settings.IMAGING_MAX_ATTEMPTS:
            _fail_lost(row, now)
            return None
        taken = Scan.objects.filter(pk=scan_id, status=row["status"], claim=row["claim"])
        if lost:
            taken = taken.filter(_stale(limit))
        claimed = taken.update(
            status=Scan.Status.RUNNING,
            claim=token,
            claimed_by=worker[:200],
            heartbeat_at=now,
            status_changed_at=now,
            stage="start",
            progress=0,
            error="",
            traceback="",
            attempts=F("attempts") + 1,
        )
        if not claimed:
            return None
        if lost:
            _record_lost(scan_id, row["claimed_by"], row["heartbeat_at"], now)
        attempt = Attempt(scan_id, token, worker, row["attempts"] + 1)
        record_event(
            scan_id, Scan.Status.RUNNING, worker, gettext_noop("attempt %(number)d"), {"number": attempt.number}
        )
    return attempt


def beat(attempt, **fields):
    """Refresh the attempt's heartbeat (and progress fields); False when the claim is no longer its."""
    return bool(
        Scan.objects.filter(pk=attempt.scan_id, claim=attempt.token).update(heartbeat_at=timezone.now(), **fields)
    )


def release(attempt, status, detail="", params=None, **fields):
    """End the attempt: the scan becomes `status` (done, failed, or queued for a retry), with the
    history's `detail` message and its `params`.

    Raises ClaimLost if the attempt no longer owns the scan (then nothing changes).
    """
    now = timezone.now()
    with transaction.atomic():
        ended = Scan.objects.filter(pk=attempt.scan_id, claim=attempt.token).update(
            status=status, claim="", status_changed_at=now, **fields
        )
        if not ended:
            raise ClaimLost(attempt)
        record_event(attempt.scan_id, status, attempt.worker, detail, params)


class Heartbeat:
    """Refreshes an attempt's heartbeat from a thread every IMAGING_HEARTBEAT_SECONDS while it works
    (a pipeline stage can run for minutes without reporting progress). `lost` is set once the claim
    was taken over; a database that does not answer is tried again at the next beat."""

    def __init__(self, attempt, interval=None):
        self.attempt = attempt
        self.interval = interval or settings.IMAGING_HEARTBEAT_SECONDS
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-scan-{attempt.scan_id}", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        try:
            while not self._stop.wait(self.interval):
                try:
                    alive = beat(self.attempt)
                except DATABASE_ERRORS as error:
                    log.warning("scan %s: heartbeat not recorded (%s)", self.attempt.scan_id, error)
                    connection.close()
                    continue
                if not alive:
                    self.lost.set()
                    return
        finally:
            connection.close()  # this thread's own connection


def sweep():
    """Requeue scans whose attempt is lost, and list the queued scans to send to the broker.

    Returns (requeued, to_send): scan ids whose attempt was lost, and every scan id to send (those,
    the scans never handed to the broker, and those still queued IMAGING_REQUEUE_AFTER_MINUTES after
    they were sent: a lost message). Sending a scan twice is harmless: one delivery claims it.
    """
    now = timezone.now()
    limit = stale_before(now)
    requeued = []
    rows = Scan.objects.filter(status=Scan.Status.RUNNING).filter(_stale(limit))
    for row in rows.values("pk", "status", "claim", "claimed_by", "heartbeat_at", "attempts"):
        with transaction.atomic():
            if row["attempts"] >= settings.IMAGING_MAX_ATTEMPTS:
                _fail_lost(row, now)
                continue
            taken = (
                Scan.objects.filter(pk=row["pk"], status=Scan.Status.RUNNING, claim=row["claim"])
                .filter(_stale(limit))
                .update(status=Scan.Status.QUEUED, claim="", status_changed_at=now, stage="", dispatched_at=None)
            )
            if taken:
                _record_lost(row["pk"], row["claimed_by"], row["heartbeat_at"], now)
                record_event(row["pk"], Scan.Status.QUEUED, detail=gettext_noop("queued again after the lost attempt"))
                requeued.append(row["pk"])
    resend_before = now - dt.timedelta(minutes=settings.IMAGING_REQUEUE_AFTER_MINUTES)
    waiting = Scan.objects.filter(status=Scan.Status.QUEUED).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=resend_before)
    )
    return requeued, sorted(set(requeued) | set(waiting.values_list("pk", flat=True)))
