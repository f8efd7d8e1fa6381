"""The CSV export writes each event's patient and event cells once for all its rows (research.exports.Row):
its text must be exactly that of writing every row whole with the csv module."""

import csv
import io

import pytest

from registry.deidentify import rules
from research import exports
from research.cohort import CohortFilter

pytestmark = pytest.mark.django_db

COLUMNS = [
    ("name", "string"),
    ("flag", "boolean"),
    ("note", "string"),
    ("number", "number"),
    ("measure", "string"),
    ("beyond", "boolean"),
    ("label", "string"),
]


def written_whole(columns, rows):
    """The reference: every row formatted whole, booleans as true/false."""
    booleans = [index for index, column in enumerate(columns) if column[1] == "boolean"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([column[0] for column in columns])
    for row in rows:
        row = list(row)
        for index in booleans:
            row[index] = exports.BOOLEAN_TEXT[row[index]]
        writer.writerow(row)
    return text.getvalue().encode()


def shared(head, *tails):
    rows = []
    for tail in tails:
        row = exports.Row(head)
        row += tail
        row.head = head
        rows.append(row)
    return rows


def plain_copies(rows):
    return [list(row) for row in rows]


def test_rows_sharing_a_head_are_written_as_whole_rows_are():
    odd_head = ['a "quoted", name', True, "line\nbreak", 1.0000000000000002]
    empty_head = ["", None, "", None]
    rows = [
        *shared(odd_head, ["GMFM-88", False, "1+"], ["FA, left", None, ""], ["x", True, 'say "hi"']),
        ["no head", False, None, 2.5, "MAS", True, None],  # a plain list between shared rows
        *shared(empty_head, ["", None, None], [None, False, "III"]),
        *shared(odd_head, ["again", True, None]),  # the same head after another one
    ]
    expected = written_whole(COLUMNS, plain_copies(rows))

    assert b"".join(exports.stream_csv(COLUMNS, rows)) == expected


def test_a_tail_of_one_cell_is_written_whole():
    columns = [("name", "string"), ("flag", "boolean"), ("last", "string")]
    head = ["p", True]
    rows = shared(head, [""], [None], ["x"])
    expected = written_whole(columns, plain_copies(rows))

    assert b"".join(exports.stream_csv(columns, rows)) == expected


def test_chunks_break_between_rows(monkeypatch):
    monkeypatch.setattr(exports, "BATCH_ROWS", 2)
    head = ["p", False, "n", 1]
    rows = shared(head, *[[f"m{i}", i % 2 == 0, None] for i in range(5)])
    expected = written_whole(COLUMNS, plain_copies(rows))

    chunks = list(exports.stream_csv(COLUMNS, rows))

    assert b"".join(chunks) == expected
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    assert len(chunks) == 3


@pytest.mark.parametrize("date_mode", ["relative", "shifted"])
def test_the_long_table_is_the_text_of_its_rows_written_whole(cohort, date_mode):
    cohort.simple("CP-901", baseline_score=40, follow_score=46, baseline_fa=0.4, follow_fa=0.45)
    cohort.simple("CP-902", baseline_score=35, follow_score=37, baseline_fa=0.38, follow_fa=0.391)
    current = rules(date_mode)
    columns = exports.long_columns(current)
    rows = list(exports.long_rows(CohortFilter(), current))
    assert {type(row) for row in rows} == {exports.Row}
    assert len(rows) > 10
    expected = written_whole(columns, plain_copies(rows))

    assert b"".join(exports.stream_csv(columns, rows)) == expected


@pytest.mark.parametrize("date_mode", ["relative", "shifted"])
def test_the_fields_a_column_reads_are_those_of_the_whole_projection(cohort, date_mode):
    from research.cohort import SeenCourse, iter_courses

    cohort.simple("CP-903", baseline_score=40, follow_score=46, baseline_fa=0.4, follow_fa=0.45)
    course = next(iter_courses(CohortFilter()))
    seen = SeenCourse(course, rules(date_mode))
    visit = course.visits[-1]
    records = {
        "patient": course,
        "procedure": {"date": course.first_procedure_date, "tnc_per_kg": 2.0e8, "age_months": 70},
        "visit": {"kind": visit.kind, "date": visit.date, "timepoint": visit.timepoint, "age_months": 76},
        "visit-imaging": {"usable": True},
        "scan-summary": {"qc_passed": False},
    }
    names = ["study_id", "day", "date", "date_of_birth", "given_name", "mrn", "kind", "usable", "qc_passed"]
    for kind, record in records.items():
        whole = seen.seen(kind, record)
        assert seen.seen_fields(kind, record, names) == [whole.get(name) for name in names], kind
    # Nothing off the allow-list comes through, whatever the record holds.
    assert seen.seen_fields("patient", course, ["date_of_birth", "given_name", "family_name", "mrn"]) == [None] * 4
    assert seen.seen_fields("visit", records["visit"], ["date"]) == [None]
