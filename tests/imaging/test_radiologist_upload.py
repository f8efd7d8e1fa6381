"""In headless Chromium with a real Celery worker: a radiologist uploads the demo scan for a
visit, watches it being processed, and sees the FA preview and the viewer."""

import os

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from config.celery import app
from imaging.dti import make_phantom

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def worker(live_server):
    """A Celery worker on the test Redis; files go to the test's own folders (private_media)."""
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60) as running:
        yield running


def test_radiologist_uploads_a_scan_and_sees_fa(worker, chromium, sign_in, live_server, build, tmp_path):
    visit = build.visit(kind="baseline")
    files = make_phantom(shape=(48, 48, 30), n_b0=2, n_dirs=20, snr=30, seed=5).save(tmp_path / "demo")

    page = chromium.new_page(viewport={"width": 1200, "height": 1000})
    page.set_default_timeout(90_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, "radiology", "dr-elizondo")
    page.goto(f"{live_server.url}/patients/{visit.patient_id}/")
    page.get_by_role("link", name="+ diffusion scan").click()
    page.set_input_files("#id_dwi", files["dwi"])
    page.set_input_files("#id_bval", files["bval"])
    page.set_input_files("#id_bvec", files["bvec"])
    page.click("form.record button[type=submit]")

    # The page follows the worker and reloads itself when the scan is done.
    page.wait_for_selector("#scan-status[data-status=done]")
    preview = page.locator("img[alt='Axial montage of FA']")
    preview.wait_for()
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", preview.element_handle())
    page.wait_for_selector(".dwi-viewer[data-state=ready]")
    assert page.locator(".dwi-viewer canvas").count() >= 1
    assert errors == []
    os.makedirs("test-artifacts", exist_ok=True)
    page.screenshot(path="test-artifacts/scan-page.png", full_page=True)
