"""The patient page's timeline writes its events' markup in Python (registry.templatetags.registry_timeline):
text people enter (an adverse event's own term, a signer's name) shows escaped there, never as markup."""

from registry import ctcae
from registry.models import Signature
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
