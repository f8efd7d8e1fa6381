"""Exports carry, when asked, the number of open data-quality queries per row, never their text."""

import datetime as dt

from registry import course as course_model
from registry import quality, queries
from tests.research.test_exports import get_rows


def test_the_export_counts_open_queries_per_row_only_when_asked(cohort, researcher, exports, make_user, monkeypatch):
    monkeypatch.setattr(course_model, "expected_instruments", lambda code: ["GMFM-88"])
    course = cohort.simple("CP-601")  # baseline 2024-01-20, follow-up 2024-08-02, procedure 2024-02-02
    visit = course.visits[1].visit
    staff = make_user("hematology", "dr-asks")
    queries.query_open(actor=staff, record=visit, field="date", text="Secret: Ana's mother called")
    queries.query_open(actor=staff, record=visit.scores.get(), text="Who scored this?")
    closed = queries.query_open(actor=staff, record=course.procedure, text="Volume?")
    queries.query_close(actor=staff, query=closed)
    quality.check_patients([course.patient.pk])  # the rules find nothing more on this course

    plain = get_rows(researcher, exports, "table=wide&format=json")
    assert "open_queries" not in plain[0]

    wide = get_rows(researcher, exports, "table=wide&format=json&open_queries=true")
    by_day = {row["event_day"]: row["open_queries"] for row in wide}
    assert by_day == {-13: 0, (visit.date - dt.date(2024, 2, 2)).days: 2}
    long = get_rows(researcher, exports, "table=long&format=csv&open_queries=true")
    assert {row["open_queries"] for row in long if row["event"] == "procedure"} == {"0"}
    body = exports.body(researcher.get(f"{exports.cohort}?table=long&format=csv&open_queries=true"))
    assert b"Secret" not in body and b"Who scored" not in body

    assert "open_queries" not in get_rows(researcher, exports, "table=long&format=json")[0]
    response = researcher.get(f"{exports.dictionary}?format=json&open_queries=true")
    assert b'"open_queries"' in exports.body(response)


def test_a_bad_open_queries_value_is_refused(cohort, researcher, exports):
    cohort.simple("CP-602")
    response = researcher.get(f"{exports.cohort}?table=wide&format=csv&open_queries=yes-please")
    assert response.status_code == 400
    assert "open_queries" in response.json()
