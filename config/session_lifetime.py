"""How long a signed-in session lasts: it ends SESSION_COOKIE_AGE seconds after the last request (idle
timeout) and SESSION_MAX_AGE seconds after sign-in however active it is (absolute lifetime).

The idle timeout is renewed by saving the session, which is a write; it is saved only once its stored
expiry has fallen SESSION_RENEW_STEP seconds behind where a save would put it. So an idle session ends
between SESSION_COOKIE_AGE - SESSION_RENEW_STEP and SESSION_COOKIE_AGE seconds after the last request:
never later than the idle timeout, at most the step earlier."""

import datetime as dt
import time

from django.conf import settings
from django.contrib.auth import logout
from django.utils import timezone

STARTED = "signed_in_at"


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            started = request.session.setdefault(STARTED, time.time())
            if time.time() - started > settings.SESSION_MAX_AGE:
                logout(request)  # the view then sees an anonymous visitor and asks for a sign-in
        response = self.get_response(request)
        renew_idle_timeout(request.session)
        return response


def renew_idle_timeout(session):
    """Mark a stored session for saving (which renews its expiry) once the expiry has fallen the step behind."""
    stored_expiry = getattr(session, "stored_expiry", None)
    if session.modified or stored_expiry is None or session.is_empty():
        return
    renewed_expiry = timezone.now() + dt.timedelta(seconds=session.get_expiry_age())
    if (renewed_expiry - stored_expiry).total_seconds() >= settings.SESSION_RENEW_STEP:
        session.modified = True
