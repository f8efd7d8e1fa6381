"""The registry's URLs, then the web benchmark's floor pages: what a signed-in page costs before it reads
anything, step by step (signed in and permission checked; with its access-log entry; with the page frame,
templates/base.html). Appended after every registry URL, so the registry's own pages resolve as they do
when served alone. Only the benchmark's server (bench_web.py) loads them."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path

from config.urls import handler500  # noqa: F401  (the same error page)
from config.urls import urlpatterns as registry_urlpatterns
from registry import audit


def _signed_in(request):
    """What every signed-in page does first: the session and account (by login_required) and a permission."""
    return request.user.has_perm("registry.view_patient")


@login_required
def signed_in(request):
    _signed_in(request)
    return HttpResponse("ok")


@login_required
def audited(request):
    _signed_in(request)
    audit.record_access(request, audit.Kind.PATIENT_LIST, record_type="patient")
    return HttpResponse("ok")


@login_required
def framed(request):
    _signed_in(request)
    audit.record_access(request, audit.Kind.PATIENT_LIST, record_type="patient")
    return render(request, "base.html", {})


urlpatterns = [
    *registry_urlpatterns,
    path("bench-floor/signed-in/", signed_in),
    path("bench-floor/audited/", audited),
    path("bench-floor/framed/", framed),
]
