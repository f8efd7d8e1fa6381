"""The Content-Security-Policy header, sent on every response (pages, API answers, static files, errors)."""

from django.conf import settings


def content_security_policy(get_response):
    """Middleware: sets settings.CONTENT_SECURITY_POLICY on every response.

    It sits above WhiteNoise in MIDDLEWARE, so static files carry it too. A view cannot loosen the
    policy: whatever a response set is replaced.
    """

    def middleware(request):
        response = get_response(request)
        response.headers["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response

    return middleware
