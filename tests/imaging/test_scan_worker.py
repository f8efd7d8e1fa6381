"""A real Celery worker on Redis and PostgreSQL processes uploaded scans end to end."""

import os
import time

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from config.celery import app
from imaging.models import DiffusionResult, Scan
from imaging.services import scans_sweep

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(settings):
    """A Celery worker thread consuming from the real Redis broker (not eager)."""
    assert app.conf.broker_url == os.environ["REDIS_URL"], "make test points CELERY_BROKER_URL at REDIS_URL"
    assert not app.conf.task_always_eager
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60
    ) as running:
        yield running


def wait_for(client, scan_id, statuses=("done", "failed"), timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/scans/{scan_id}/").json()
        if body["status"] in statuses:
            return body
        time.sleep(0.3)
    raise AssertionError(f"scan {scan_id} still {body['status']} after {timeout} s")


@pytest.fixture
def radiology_api(api_as):
    return api_as("radiology")


def test_upload_is_processed_by_the_worker(worker, radiology_api, series, build, phantom, client, make_user):
    visit = build.visit()
    response = radiology_api.post("/api/v1/scans/", series.payload(visit), format="multipart")
    assert response.status_code == 202, response.content
    body = wait_for(radiology_api, response.json()["id"])
    assert body["status"] == "done", body["error"]
    assert body["progress"] == 100 and body["error"] == ""
    assert [event["status"] for event in body["status_history"]] == ["queued", "running", "done"]
    assert body["status_history"][1]["worker"]

    # FA in the phantom's tracts is high, in its parenchyma low: the white-matter mean lies between.
    assert 0.3 < body["summary"]["fa_wm_mean"] < 0.95
    assert 0 < body["summary"]["fa_mean"] < body["summary"]["fa_wm_mean"]
    assert 0.0003 < body["summary"]["md_mean"] < 0.0015
    assert body["qc"]["items"]["b0_count"]["value"] == 2
    assert body["qc"]["items"]["n_directions"]["value"] == 20
    for name in ("fa", "md", "ad", "rd", "color_fa", "mask", "preview_fa", "preview_color_fa"):
        assert name in body["maps"], body["maps"]

    # Maps are served to signed-in staff, not to anonymous visitors nor research accounts.
    fa_url = body["maps"]["fa"].replace("http://testserver", "")
    client.force_login(make_user("hematology"))
    download = client.get(fa_url)
    assert download.status_code == 200 and b"".join(download.streaming_content)[:2] == b"\x1f\x8b"
    client.logout()
    assert client.get(fa_url).status_code == 302
    client.force_login(make_user("research"))
    assert client.get(fa_url).status_code == 403

    # Region statistics from the phantom's own label image match the truth.
    labels = {"labels": open(series.files["labels"], "rb"), "names": open(series.files["label_names"]).read()}
    response = radiology_api.post(f"/api/v1/scans/{body['id']}/labels/", labels, format="multipart")
    assert response.status_code == 201, response.content
    measured = {roi["label"]: roi for roi in response.json()}
    for label, true_fa in phantom.true_fa.items():
        if label >= 3:  # tract regions
            assert measured[label]["fa"] == pytest.approx(true_fa, abs=0.05), (label, measured[label])
            assert measured[label]["source"] == "label-mask" and measured[label]["voxels"] > 0
    rois = radiology_api.get(f"/api/v1/scans/{body['id']}/").json()["rois"]
    assert len(rois) == len(measured)


def test_reprocessing_keeps_the_earlier_provenance(worker, radiology_api, series, build):
    visit = build.visit()
    scan_id = radiology_api.post("/api/v1/scans/", series.payload(visit), format="multipart").json()["id"]
    first = wait_for(radiology_api, scan_id)
    response = radiology_api.post(f"/api/v1/scans/{scan_id}/reprocess/", {"fit_method": "OLS"}, format="json")
    assert response.status_code == 202, response.content
    second = wait_for(radiology_api, scan_id)
    results = DiffusionResult.objects.filter(scan_id=scan_id).order_by("created_at")
    assert results.count() == 2
    assert [result.is_current for result in results] == [False, True]
    assert results[0].provenance["parameters"]["fit_method"] == "WLS"
    assert results[1].provenance["parameters"]["fit_method"] == "OLS"
    assert second["summary"]["fa_wm_mean"] == pytest.approx(first["summary"]["fa_wm_mean"], abs=0.02)


def test_a_scan_that_breaks_in_the_worker_fails_with_a_message(worker, radiology_api, series, build):
    visit = build.visit()
    scan_id = radiology_api.post("/api/v1/scans/", series.payload(visit), format="multipart").json()["id"]
    wait_for(radiology_api, scan_id)
    scan = Scan.objects.get(pk=scan_id)
    # The stored b-values are lost (storage fault); reprocessing fails, for people and admins.
    with open(scan.bval.path, "w") as handle:
        handle.write("1000 " * 5)
    radiology_api.post(f"/api/v1/scans/{scan_id}/reprocess/", {}, format="json")
    body = wait_for(radiology_api, scan_id, statuses=("failed",))
    assert body["error"] and "Traceback" not in body["error"]
    assert "Traceback" in Scan.objects.get(pk=scan_id).traceback
    # The earlier result stays the current one.
    assert body["summary"] is not None


def test_a_lost_attempt_is_requeued_and_processed(worker, radiology_api, series, build):
    visit = build.visit()
    scan_id = radiology_api.post("/api/v1/scans/", series.payload(visit), format="multipart").json()["id"]
    wait_for(radiology_api, scan_id)
    # A worker died mid-run: the scan says running, its last heartbeat long ago.
    Scan.objects.filter(pk=scan_id).update(
        status="running", claim="c0ffee", claimed_by="gone@host", heartbeat_at="2020-01-01T00:00Z"
    )
    assert scans_sweep() == [scan_id]
    body = wait_for(radiology_api, scan_id)
    assert body["status"] == "done"
    lost = [event for event in body["status_history"] if event["status"] == "lost"]
    assert len(lost) == 1 and "attempt lost on gone@host" in lost[0]["detail"]
    assert DiffusionResult.objects.filter(scan_id=scan_id).count() == 2
