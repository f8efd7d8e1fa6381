"""In headless Chromium with a real Celery worker: a radiologist uploads the demo scan for a
visit, watches it being processed, and sees the FA preview and the viewer."""

import os

import pytest
import redis
from celery.contrib.testing.worker import start_worker

from config.celery import app
from imaging.dti import make_phantom
from tests.conftest import CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.postgres]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


@pytest.fixture
def worker(live_server):
    # media and staging folders: the autouse private_media fixture
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=60) as running:
        yield running


def test_radiologist_uploads_a_scan_and_sees_fa(worker, live_server, make_user, build, tmp_path):
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    make_user("radiology", "dr-elizondo")
    visit = build.visit(kind="baseline")
    files = make_phantom(shape=(48, 48, 30), n_b0=2, n_dirs=20, snr=30, seed=5).save(tmp_path / "demo")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.set_default_timeout(90_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", "dr-elizondo")
        page.fill("input[name=password]", "pw-for-tests-1")
        page.click("main button[type=submit]")
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
        browser.close()
