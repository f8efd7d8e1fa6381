"""Every scan is processed exactly once: deliveries at the same time, concurrent reprocess requests,
a live attempt that the sweep leaves alone, and a lost attempt whose late result is not stored.

These run the worker's code in threads of the test process, each with its own PostgreSQL
connection, so that the conditional updates really race.
"""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from imaging import claims, services
from imaging.models import DiffusionResult, Scan, ScanStatusEvent
from tests.imaging.conftest import stored_files

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def at_once(count, work):
    """Run work(i) in `count` threads released together; returns their results (or exceptions)."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as error:  # reported to the test, not lost in the thread
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def statuses(scan_id):
    return list(ScanStatusEvent.objects.filter(scan_id=scan_id).values_list("status", flat=True))


def test_of_simultaneous_claims_only_one_wins(upload_scan):
    scan = upload_scan()
    attempts = at_once(8, lambda i: claims.claim(scan.pk, f"worker-{i}"))
    won = [attempt for attempt in attempts if attempt is not None]
    assert len(won) == 1, attempts
    assert not any(isinstance(attempt, Exception) for attempt in attempts), attempts
    scan.refresh_from_db()
    assert scan.status == Scan.Status.RUNNING and scan.claim == won[0].token and scan.attempts == 1
    assert statuses(scan.pk) == ["queued", "running"]


def test_the_same_scan_delivered_twice_at_once_is_processed_once(upload_scan):
    scan = upload_scan()
    outcomes = at_once(2, lambda i: services.scan_process(scan.pk, worker=f"worker-{i}", heartbeat=True))
    assert sorted(outcomes, key=str) == sorted([scan.pk, None], key=str), outcomes
    assert DiffusionResult.objects.filter(scan=scan).count() == 1
    assert statuses(scan.pk) == ["queued", "running", "done"]
    # A delivery that arrives after the scan is done does nothing either.
    assert services.scan_process(scan.pk, worker="late") is None
    assert DiffusionResult.objects.filter(scan=scan).count() == 1


def test_sixteen_reprocess_requests_at_once_are_accepted_once(processed_scan, make_user, monkeypatch):
    sent = []
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: sent.append(scan_id))
    radiologist = make_user("radiology", "dr-concurrent")
    clients = [APIClient() for _ in range(16)]
    for client in clients:
        client.force_authenticate(radiologist)

    def request(i):
        return clients[i].post(f"/api/v1/scans/{processed_scan.pk}/reprocess/", {}, format="json")

    answers = at_once(16, request)
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [202] + [409] * 15, [getattr(a, "content", a) for a in answers]
    refused = next(answer for answer in answers if answer.status_code == 409)
    assert "already being processed" in refused.json()["detail"]
    assert sent == [processed_scan.pk]
    # The one accepted request runs one attempt and stores one more result.
    services.scan_process(processed_scan.pk, worker="worker")
    assert DiffusionResult.objects.filter(scan=processed_scan).count() == 2
    assert statuses(processed_scan.pk).count("running") == 2


class HeldAtFit(services.ProgressRecorder):
    """The worker's progress recorder, holding the attempt when the tensor fit starts until released."""

    reached = None
    release = None

    def __call__(self, stage, percent):
        super().__call__(stage, percent)
        if stage == "fit" and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(timeout=60)


def process_in_background(scan_id, worker, outcome):
    def run():
        try:
            outcome.append(services.scan_process(scan_id, worker=worker, heartbeat=True))
        except Exception as error:
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.fixture
def held(monkeypatch):
    monkeypatch.setattr(HeldAtFit, "reached", threading.Event())
    monkeypatch.setattr(HeldAtFit, "release", threading.Event())
    monkeypatch.setattr("imaging.services.ProgressRecorder", HeldAtFit)
    return HeldAtFit


def test_the_sweep_leaves_a_long_attempt_with_a_live_heartbeat_alone(upload_scan, held, settings):
    settings.IMAGING_HEARTBEAT_SECONDS = 0.05
    settings.IMAGING_STALE_AFTER_SECONDS = 0.5
    scan = upload_scan()
    outcome = []
    thread = process_in_background(scan.pk, "busy-worker", outcome)
    assert held.reached.wait(timeout=60)
    # Queued and started long ago, as a `full` profile run would be: only the heartbeat counts.
    Scan.objects.filter(pk=scan.pk).update(status_changed_at=timezone.now() - dt.timedelta(hours=2))
    beats = set()
    deadline = timezone.now() + dt.timedelta(seconds=1.5)  # three times the stale limit
    while timezone.now() < deadline:
        assert services.scans_sweep() == []
        beats.add(Scan.objects.values_list("heartbeat_at", flat=True).get(pk=scan.pk))
    assert len(beats) > 3, "the heartbeat thread refreshes the claim while the fit runs"
    held.release.set()
    thread.join(timeout=60)
    assert outcome == [scan.pk]
    assert statuses(scan.pk) == ["queued", "running", "done"]
    assert DiffusionResult.objects.filter(scan=scan).count() == 1


def test_a_lost_attempt_is_taken_over_and_its_late_result_is_not_stored(upload_scan, held, settings):
    settings.IMAGING_HEARTBEAT_SECONDS = 3600  # the first worker stops answering (a long pause, a cut network)
    scan = upload_scan()
    outcome = []
    thread = process_in_background(scan.pk, "paused-worker", outcome)
    assert held.reached.wait(timeout=60)
    Scan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=10))

    assert services.scans_sweep() == [scan.pk]  # requeued, the loss recorded
    assert services.scan_process(scan.pk, worker="second-worker") == scan.pk
    held.release.set()  # the first attempt wakes up and tries to finish
    thread.join(timeout=60)
    assert outcome == [None]

    assert DiffusionResult.objects.filter(scan=scan).count() == 1
    result = DiffusionResult.objects.get(scan=scan)
    events = [(event.status, event.worker, event.text) for event in ScanStatusEvent.objects.filter(scan=scan)]
    assert [status for status, _, _ in events] == ["queued", "running", "lost", "queued", "running", "done"]
    assert events[2][1] == "paused-worker" and "attempt lost on paused-worker" in events[2][2]
    assert events[4][1] == events[5][1] == "second-worker"
    # Only the files of the stored result remain: the lost attempt left nothing behind.
    results = [path for path in stored_files(settings) if "/results/" in path]
    assert results and all(result.folder in path for path in results), results


def test_a_scan_whose_attempts_keep_being_lost_fails_with_a_message(upload_scan, settings):
    settings.IMAGING_MAX_ATTEMPTS = 2
    scan = upload_scan()
    for number in (1, 2):
        assert claims.claim(scan.pk, f"worker-{number}") is not None
        Scan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - dt.timedelta(hours=1))
        services.scans_sweep()
    scan.refresh_from_db()
    assert scan.status == Scan.Status.FAILED
    assert "stopped 2 times without finishing" in scan.error
    assert statuses(scan.pk) == ["queued", "running", "lost", "queued", "running", "lost", "failed"]


def test_an_upload_while_the_broker_is_away_is_kept_and_sent_by_the_sweep(build, make_user, scan_files, monkeypatch):
    from kombu.exceptions import OperationalError

    broker_up = False
    sent = []

    def apply_async(args=None, kwargs=None, **options):
        if not broker_up:
            raise OperationalError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        sent.extend(args)

    monkeypatch.setattr("imaging.tasks.process_scan.apply_async", apply_async)
    client = APIClient()
    client.force_authenticate(make_user("radiology"))
    visit = build.visit()
    with open(scan_files["dwi"], "rb") as dwi, open(scan_files["bval"], "rb") as bval:
        with open(scan_files["bvec"], "rb") as bvec:
            answer = client.post(
                "/api/v1/scans/", {"visit": visit.pk, "dwi": dwi, "bval": bval, "bvec": bvec}, format="multipart"
            )
    assert answer.status_code == 202, answer.content
    scan = Scan.objects.get(pk=answer.json()["id"])
    assert scan.status == Scan.Status.QUEUED and scan.dispatched_at is None
    assert "waiting for the processing queue" in scan.status_events.last().text

    services.scans_sweep()  # still away: nothing lost, nothing sent
    assert sent == [] and Scan.objects.get(pk=scan.pk).dispatched_at is None
    broker_up = True
    services.scans_sweep()
    assert sent == [scan.pk] and Scan.objects.get(pk=scan.pk).dispatched_at is not None
    services.scans_sweep()  # sent once; not again until it has waited IMAGING_REQUEUE_AFTER_MINUTES
    assert sent == [scan.pk]


def test_the_history_speaks_the_readers_language(upload_scan, settings):
    from django.utils import translation

    scan = upload_scan()
    claims.claim(scan.pk, "ward-b")
    Scan.objects.filter(pk=scan.pk).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=300))
    services.scans_sweep()
    lost = ScanStatusEvent.objects.get(scan=scan, status=ScanStatusEvent.LOST)
    with translation.override("en"):
        assert lost.text.startswith("attempt lost on ward-b: no sign of life for 30")
    with translation.override("es"):
        assert lost.text.startswith("intento perdido en ward-b: sin señales de vida durante 30")
        assert lost.get_status_display() == "Intento perdido"
