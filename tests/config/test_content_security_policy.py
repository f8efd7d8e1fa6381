"""Every response carries the Content-Security-Policy (config/csp.py, settings.CONTENT_SECURITY_POLICY):
pages, API answers, the schema and its docs, static files, error pages; scripts only from the app,
never inline and never eval; and no template carries an inline script or event handler that the
policy would block. That every page still works under it, in Chromium: tests/*/test_csp_*.py.
"""

import re
from pathlib import Path

import pytest
from django.urls import path

from registry.roles import HEMATOLOGY, REGISTRY_ADMIN

ROOT = Path(__file__).resolve().parents[2]
HEADER = "Content-Security-Policy"


def directives(policy):
    """{"script-src": ["'self'", ...], ...} from a policy header."""
    parsed = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


def policy_of(response):
    assert HEADER in response.headers, f"no {HEADER} on {response.request['PATH_INFO']}"
    return directives(response.headers[HEADER])


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom)]


def test_scripts_come_only_from_the_app_never_inline_nor_eval(settings):
    policy = directives(settings.CONTENT_SECURITY_POLICY)
    for name in ("script-src", "default-src"):
        assert "'self'" in policy[name]
        assert "'unsafe-inline'" not in policy[name]
        assert "'unsafe-eval'" not in policy[name]
    assert "'unsafe-inline'" not in policy["style-src"]
    assert not any(source.startswith(("http", "*")) for sources in policy.values() for source in sources)
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]


@pytest.mark.parametrize(
    "url",
    [
        "/login/",
        "/patients/",
        "/imaging/",
        "/admin/",
        "/api/v1/patients/",
        "/api/schema/",
        "/api/docs/",
        "/no-such-page/",
        "/static/registry/registry.css",
        "/static/imaging/viewer.js",
        "/static/vendor/niivue/niivue.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    ],
)
def test_every_response_carries_the_policy(client, make_user, settings, url):
    client.force_login(make_user(REGISTRY_ADMIN))
    response = client.get(url, HTTP_ACCEPT="text/html,*/*;q=0.8")
    response.close()  # a static file's response holds the file open until closed
    assert response.status_code in {200, 404}, url
    assert response.headers[HEADER] == settings.CONTENT_SECURITY_POLICY


def test_a_static_file_is_served_with_the_policy(client, settings):
    response = client.get("/static/registry/language.js")
    assert response.status_code == 200
    assert b"addEventListener" in b"".join(response.streaming_content)
    assert response.headers[HEADER] == settings.CONTENT_SECURITY_POLICY


def test_api_answers_and_refusals_carry_the_policy(api_as, settings):
    client = api_as(HEMATOLOGY)
    assert "'unsafe-inline'" not in policy_of(client.get("/api/v1/patients/"))["script-src"]
    refused = client.post("/api/v1/instruments/", {"code": "X"}, format="json")
    assert refused.status_code == 403
    assert refused.headers[HEADER] == settings.CONTENT_SECURITY_POLICY


def test_signed_out_redirects_and_server_errors_carry_the_policy(client, settings):
    redirect = client.get("/patients/")
    assert redirect.status_code == 302
    assert redirect.headers[HEADER] == settings.CONTENT_SECURITY_POLICY

    settings.ROOT_URLCONF = __name__
    client.raise_request_exception = False
    error = client.get("/boom/")
    assert error.status_code == 500
    assert error.headers[HEADER] == settings.CONTENT_SECURITY_POLICY


def test_the_api_docs_page_has_no_inline_script(client):
    html = client.get("/api/docs/").content.decode()
    assert 'id="swagger-ui"' in html
    assert "/static/api/docs.js" in html
    for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        assert "src=" in attributes or 'type="application/json"' in attributes, attributes
        assert "src=" not in attributes or not body.strip()


# A <script> with a body and no type="application/json", or an on...= attribute, in any template.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)


@pytest.mark.parametrize("template", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_no_template_has_an_inline_script_event_handler_or_style_attribute(template):
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "inline <script>: move it to a file under static/"
    assert not EVENT_HANDLER.search(text), "event-handler attribute: add the listener from a file under static/"
    assert not STYLE_ATTRIBUTE.search(text), "style attribute: use a class in the stylesheet"
    assert "<style" not in text, "<style> element: use the stylesheet"
