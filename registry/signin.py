"""Sign-in lockout (django-axes): the answer a locked-out client gets, on the pages and the API."""

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def lockout_message(username):
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return _(
        "Too many failed sign-in attempts for “%(username)s”: signing in from here is locked for "
        "%(minutes)d minutes. Try again later, or ask a registry administrator to unlock the account."
    ) % {"username": username or "", "minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: 429 with a JSON `detail` for the API, the sign-in page with the message otherwise."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    message = lockout_message(username)
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        form = AuthenticationForm(request, initial={"username": username})
        context = {"form": form, "locked_out": message, "next": request.POST.get("next", "")}
        response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


def flag_api_lockout(sender, request=None, **kwargs):
    """user_locked_out: DRF views authenticate with DRF's Request, which keeps axes' flags to itself;
    copy them to the Django request so that AxesMiddleware answers with the lockout for any API view."""
    django_request = getattr(request, "_request", None)
    if django_request is not None:
        django_request.axes_locked_out = True
        django_request.axes_credentials = getattr(request, "axes_credentials", None)
