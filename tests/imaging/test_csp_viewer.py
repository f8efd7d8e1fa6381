"""Under the Content-Security-Policy (config/csp.py) a radiologist's pages work in Chromium with no
CSP violation, no console error and no request that leaves the server: the worklist, the upload
form, and the scan page with the NiiVue viewer drawn from a processed scan's maps."""

import pytest

from registry.roles import RADIOLOGY

pytestmark = [pytest.mark.browser]
VIEWER_SETTLED = "() => ['ready', 'error'].includes(document.querySelector('.dwi-viewer')?.dataset.state)"


def test_a_radiologist_reviews_a_processed_scan_in_the_viewer_under_the_policy(watched_browser, processed_scan):
    watched = watched_browser(RADIOLOGY, "dr-rx")
    watched.visit("/imaging/", ready=f"a[href='/imaging/scans/{processed_scan.pk}/']")
    watched.visit(f"/imaging/visits/{processed_scan.visit_id}/upload/", ready="main form button[type=submit]")

    page = watched.visit(f"/imaging/scans/{processed_scan.pk}/", ready=VIEWER_SETTLED)
    assert page.get_attribute(".dwi-viewer", "data-state") == "ready", page.inner_text(".dwi-viewer")
    assert page.evaluate("window.dwiViewers[0].volumes.length") == 3
    page.click(".dwi-viewer button[data-view=axial]")
    page.check(".dwi-viewer input[data-control=overlay-color-fa]")
    page.wait_for_function("() => document.querySelector('.dwi-viewer').dataset.overlay === 'color-fa'")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    watched.collect_violations()
    assert watched.problems == []
