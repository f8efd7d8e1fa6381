"""The live status of a scan: /imaging/scans/{id}/status/ gives status and stage as codes and as
words in the reader's language, and the scan page (static/imaging/scan.js) shows those words,
never the codes, while a worker processes the scan, in English and in Spanish."""

import threading

import pytest
from django.db import connection
from django.utils import translation

from imaging import claims, services
from imaging.dti.pipeline import _PLANS
from imaging.models import Scan
from imaging.views import STAGE_LABELS

WORDS = {
    "en": {"queued": "Queued", "running": "Running", "done": "Done", "fit": "Fitting the tensor"},
    "es": {"queued": "En cola", "running": "En ejecución", "done": "Completado", "fit": "Ajustando el tensor"},
}


@pytest.fixture
def queued_scan(upload_scan):
    """A scan uploaded for a visit and waiting for a worker."""
    return upload_scan()


def fitting(scan):
    """The scan as a worker leaves it while it fits the tensor."""
    attempt = claims.claim(scan.pk, "test-worker")
    services.ProgressRecorder(attempt)("fit", 40)


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_status_is_given_in_the_readers_language(client, make_user, queued_scan, language):
    fitting(queued_scan)
    client.force_login(make_user("radiology", "reader"))
    response = client.get(f"/imaging/scans/{queued_scan.pk}/status/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response.json() == {
        "status": "running",
        "status_label": WORDS[language]["running"],
        "stage": "fit",
        "stage_label": WORDS[language]["fit"],
        "progress": 40,
        "error": "",
    }
    assert "no-cache" in response["Cache-Control"]


def test_a_scan_waiting_for_a_worker_has_no_stage_yet(client, make_user, queued_scan):
    client.force_login(make_user("radiology", "reader"))
    body = client.get(f"/imaging/scans/{queued_scan.pk}/status/", HTTP_ACCEPT_LANGUAGE="es").json()
    assert (body["status"], body["status_label"], body["stage"], body["stage_label"]) == ("queued", "En cola", "", "")


def test_every_status_and_every_stage_the_worker_reports_has_a_spanish_label():
    stages = {"start"} | {stage for plan in _PLANS.values() for stage in plan}  # "start": services.scan_process
    assert stages <= set(STAGE_LABELS), f"stages without a label: {stages - set(STAGE_LABELS)}"
    for label in [*Scan.Status.labels, *STAGE_LABELS.values()]:
        with translation.override("en"):
            english = str(label)
        with translation.override("es"):
            spanish = str(label)
        assert spanish != english, f"{english!r} has no Spanish translation"


def test_only_staff_who_may_see_the_scan_get_its_status(client, make_user, queued_scan):
    url = f"/imaging/scans/{queued_scan.pk}/status/"
    assert client.get(url).status_code == 302  # to the sign-in page
    for role, code in {"hematology": 200, "radiology": 200, "research": 403, "registry-admin": 200}.items():
        client.force_login(make_user(role, f"status-{role}"))
        assert client.get(url).status_code == code, role
    assert client.get("/imaging/scans/999999/status/").status_code == 404


# ---- in Chromium, against the real scan page -------------------------------------------

# Every text the status and stage fields show, kept across the page's reload.
RECORD_SHOWN = """(() => {
  const shown = JSON.parse(sessionStorage.getItem("shown") || "[]");
  const record = () => {
    for (const node of document.querySelectorAll("#scan-status [data-field=status], #scan-status [data-field=stage]")) {
      shown.push(node.textContent.trim());
    }
    sessionStorage.setItem("shown", JSON.stringify(shown));
  };
  document.addEventListener("DOMContentLoaded", () => {
    const section = document.querySelector("#scan-status");
    if (!section) return;
    record();
    new MutationObserver(record).observe(section, { subtree: true, childList: true, characterData: true });
  });
})();"""


class HeldAtFit(services.ProgressRecorder):
    """The worker's progress recorder, holding the run when the tensor fit starts until released."""

    reached = threading.Event()
    release = threading.Event()

    def __call__(self, stage, percent):
        super().__call__(stage, percent)
        if stage == "fit" and not self.reached.is_set():
            self.reached.set()
            self.release.wait(timeout=60)


def process_in_a_worker_thread(scan_id):
    def run():
        try:
            services.scan_process(scan_id, worker="test-worker")
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.parametrize("locale,language", [("en-US", "en"), ("es-ES", "es")])
def test_the_scan_page_follows_the_worker_in_the_readers_language(
    chromium, sign_in, live_server, settings, queued_scan, monkeypatch, locale, language
):
    from playwright.sync_api import expect

    settings.IMAGING_STATUS_POLL_MS = 100
    monkeypatch.setattr(HeldAtFit, "reached", threading.Event())
    monkeypatch.setattr(HeldAtFit, "release", threading.Event())
    monkeypatch.setattr("imaging.services.ProgressRecorder", HeldAtFit)
    words = WORDS[language]
    codes = {*Scan.Status.values, *STAGE_LABELS}
    scan_url = f"{live_server.url}/imaging/scans/{queued_scan.pk}/"

    page = chromium.new_page(locale=locale, viewport={"width": 1100, "height": 700})
    page.set_default_timeout(30_000)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(RECORD_SHOWN)
    sign_in(page, "radiology", "dr-elizondo")
    loads = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and loads.append(frame.url))
    page.goto(scan_url)

    status = page.locator("#scan-status [data-field=status]")
    stage = page.locator("#scan-status [data-field=stage]")
    expect(status).to_have_text(words["queued"])

    # A worker takes the scan; the page follows it without a reload.
    worker = process_in_a_worker_thread(queued_scan.pk)
    expect(stage).to_have_text(words["fit"])
    expect(status).to_have_text(words["running"])
    expect(status).to_have_class("status running")
    assert page.evaluate("document.querySelector('progress[data-field=progress]').value") > 0
    assert HeldAtFit.reached.is_set()
    page.screenshot(path=f"/tmp/scan-status-{language}-running.png")

    # The worker finishes; the page reloads once and shows the result.
    HeldAtFit.release.set()
    expect(page.locator(".dwi-viewer")).to_be_attached()
    expect(status).to_have_text(words["done"])
    page.screenshot(path=f"/tmp/scan-status-{language}-done.png")
    worker.join(timeout=60)
    assert Scan.objects.get(pk=queued_scan.pk).status == Scan.Status.DONE

    shown = page.evaluate("JSON.parse(sessionStorage.getItem('shown'))")
    assert {words["queued"], words["running"], words["fit"], words["done"]} <= set(shown)
    assert not codes & set(shown), f"raw codes shown: {codes & set(shown)}"
    assert loads == [scan_url, scan_url]  # the first visit and the one reload when done
    assert errors == []
