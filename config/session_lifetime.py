"""Absolute session lifetime: a signed-in session ends SESSION_MAX_AGE seconds after it began,
however active it is (the idle timeout is SESSION_COOKIE_AGE, renewed on every request)."""

import time

from django.conf import settings
from django.contrib.auth import logout

STARTED = "signed_in_at"


class AbsoluteSessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            started = request.session.setdefault(STARTED, time.time())
            if time.time() - started > settings.SESSION_MAX_AGE:
                logout(request)  # the view then sees an anonymous visitor and asks for a sign-in
        return self.get_response(request)
