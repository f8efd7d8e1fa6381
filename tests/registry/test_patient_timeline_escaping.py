"""The patient page writes its timeline's and its trajectories' markup in Python (registry.templatetags):
text people enter (an adverse event's own term, a signer's name, an instrument's code and name) shows escaped
there, never as markup."""

from decimal import Decimal

from registry import ctcae
from registry.models import Instrument, Signature
from registry.roles import HEMATOLOGY

TEXT = 'Rash <b>"odd"</b> & more'
ESCAPED = "Rash &lt;b&gt;&quot;odd&quot;&lt;/b&gt; &amp; more"


def test_an_adverse_events_own_term_shows_escaped_in_the_timeline(signed_in_client, build):
    client = signed_in_client(HEMATOLOGY)
    event = build.adverse_event(term=ctcae.OTHER, term_other=TEXT)

    page = client.get(f"/patients/{event.procedure.patient_id}/").content.decode()

    assert f"<h3>Adverse event: Other, specify: {ESCAPED}</h3>" in page
    assert "<b>" not in page


def test_the_signer_of_a_visit_shows_escaped_in_the_timeline(signed_in_client, build):
    client = signed_in_client(HEMATOLOGY)
    visit = build.visit()
    Signature.objects.create(
        patient=visit.patient, visit=visit, subject="visit", meaning="I confirm.", signer_name=TEXT
    )

    page = client.get(f"/patients/{visit.patient_id}/").content.decode()

    assert f'<span class="lock">signed by {ESCAPED} on ' in page
    assert "<b>" not in page


def test_an_instruments_code_and_name_show_escaped_in_its_row_and_its_trajectory(
    reference_data, signed_in_client, build
):
    Instrument.objects.create(code='x<&"', name=TEXT, min_value=0, max_value=50)
    visit = build.visit(build.procedure().patient)
    build.score(visit, instrument='x<&"', value=Decimal("12"))

    page = signed_in_client(HEMATOLOGY).get(f"/patients/{visit.patient_id}/").content.decode()

    assert "<tr><td>x&lt;&amp;&quot;</td><td>12</td>" in page
    assert "<figcaption><h3>x&lt;&amp;&quot;</h3><p>" + ESCAPED + ". Scale" in page
    assert "<summary>x&lt;&amp;&quot; as a table</summary>" in page
    assert "<b>" not in page
