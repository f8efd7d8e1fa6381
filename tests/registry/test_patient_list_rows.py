"""The patient list's rows, written by one function rather than a template loop per cell: each cell as the
page always showed it, every value escaped."""

import datetime

from django.utils.html import escape


def test_each_row_shows_the_patient_as_entered_and_escaped(client, make_user, build):
    client.force_login(make_user("hematology"))
    treated = build.patient(
        study_id="CP-201", given_name="Ana <b>", family_name="O'Brien & Sons", mrn='MRN"7', gmfcs_level=4
    )
    build.procedure(product=build.product(harvest=build.harvest(patient=treated)), date=datetime.date(2025, 3, 4))
    build.patient(study_id="CP-202", given_name="Luis", family_name="Vega", gmfcs_level=2)

    html = client.get("/patients/").content.decode()

    row = html[html.index(f'<tr><td><a href="/patients/{treated.pk}/">CP-201</a>') :].split("</tr>", 1)[0]
    assert escape("Ana <b> O'Brien & Sons") in row
    assert "<td>MRN&quot;7</td>" in row
    assert "<td>IV</td>" in row
    assert "<td>2025-03-04</td>" in row
    assert "<b>" not in row
    untreated = html[html.index(">CP-202</a>") :].split("</tr>", 1)[0]
    assert untreated.endswith("<td>II</td><td>—</td>")


def test_an_empty_search_says_no_patient_matches(client, make_user, build):
    client.force_login(make_user("hematology"))
    build.patient(study_id="CP-201")

    html = client.get("/patients/?q=zzz").content.decode()

    assert "No patient matches “zzz”." in html
    assert "CP-201" not in html
