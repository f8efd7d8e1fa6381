"""Under the Content-Security-Policy (config/csp.py) a researcher's pages work in Chromium with no
CSP violation, no console error and no request that leaves the server: the cohort, and the linking
of FA with scores with every plot drawn."""

import datetime as dt

import pytest

from registry.roles import RESEARCH

pytestmark = [pytest.mark.browser]
PLOTS_DRAWN = "() => [...document.querySelectorAll('section.plots img')].every(i => i.complete && i.naturalWidth > 0)"


@pytest.fixture
def three(cohort):
    cohort.simple("CP-501", gmfcs_level=3)
    cohort.simple("CP-502", baseline_score=30, follow_score=37, baseline_fa=0.35, follow_fa=0.43)
    cohort.simple(
        "CP-503",
        baseline_score=20,
        follow_score=21,
        baseline_fa=0.30,
        follow_fa=0.31,
        procedure_date=dt.date(2024, 3, 1),
        baseline_date=dt.date(2024, 2, 1),
        follow_date=dt.date(2025, 3, 1),
    )


def test_a_researcher_links_fa_with_scores_and_sees_the_plots_under_the_policy(watched_browser, three):
    watched = watched_browser(RESEARCH, "dr-research")
    watched.visit("/research/", ready="main table")
    watched.visit("/research/?gmfcs_level=3", ready="main table")

    page = watched.visit("/research/linking/?instrument=GMFM-88", ready="section.plots img")
    plots = page.locator("section.plots img")
    assert plots.count() >= 6
    for plot in plots.all():  # the plots load lazily: bring each into view
        plot.scroll_into_view_if_needed()
    page.wait_for_function(PLOTS_DRAWN)
    watched.collect_violations()
    assert watched.problems == []
