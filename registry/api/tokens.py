"""API tokens: signing in for one, signing out (this token or all of the account's), and the token
check that plain Django views serving files and exports share with the API.

Tokens are django-rest-knox's: only a digest of each key is stored, every token expires
(settings.REST_KNOX), and the key is shown once, in the answer that creates it."""

from functools import wraps

from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from knox.views import LogoutAllView, LogoutView
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from registry.api.authentication import TokenAuthentication, delete_expired_tokens


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token KEY`. It is shown only this once.")
    expiry = serializers.DateTimeField(help_text="When the token stops working; ask for a new one then.")


class CredentialsErrorSerializer(serializers.Serializer):
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)
    username = serializers.ListField(child=serializers.CharField(), required=False)
    password = serializers.ListField(child=serializers.CharField(), required=False)


class TokenObtainApi(APIView):
    """A new API token for a username and password."""

    error_answers = ()  # its own extend_schema names every answer
    authentication_classes = []  # the credentials are in the body: no session, so no CSRF check either
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="auth_token_create",
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: OpenApiResponse(CredentialsErrorSerializer, description="Missing or wrong username or password."),
        },
        auth=[],
        tags=["auth"],
    )
    def post(self, request):
        given = TokenRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        # The Django request, not DRF's wrapper: sign-in throttling marks it for its middleware.
        user = authenticate(request=request._request, **given.validated_data)
        if user is None:
            raise ValidationError(
                {"non_field_errors": [_("That username and password do not match an active account.")]}
            )
        delete_expired_tokens(user)
        token, key = AuthToken.objects.create(user=user)
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        return Response(TokenSerializer({"token": key, "expiry": token.expiry}).data)


class TokenRevokeApi(LogoutView):
    """Signs out of the API: the token sent with this request stops working."""

    error_answers = ()  # its own extend_schema names every answer
    authentication_classes = (TokenAuthentication,)  # as knox's view, with the registry's check

    @extend_schema(
        operation_id="auth_logout_create",
        request=None,
        responses={204: OpenApiResponse(description="The token is revoked."), 401: None},
        tags=["auth"],
    )
    def post(self, request, format=None):
        return super().post(request, format)


class TokenRevokeAllApi(LogoutAllView):
    """Signs out of the API everywhere: every token of the account stops working."""

    error_answers = ()  # its own extend_schema names every answer
    authentication_classes = (TokenAuthentication,)  # as knox's view, with the registry's check

    @extend_schema(
        operation_id="auth_logout_all_create",
        request=None,
        responses={204: OpenApiResponse(description="Every token of the account is revoked."), 401: None},
        tags=["auth"],
    )
    def post(self, request, format=None):
        return super().post(request, format)


# ---- plain Django views (files, exports) reached with the same token ----------------------


def token_user(request):
    """The active account whose valid token the request carries as `Authorization: Token KEY`;
    None without one, or for a token that is unknown, revoked or expired."""
    try:
        found = TokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return found[0] if found else None


def is_api_client(request):
    """A script rather than a browser: it sends credentials in a header, or asks for JSON."""
    return "Authorization" in request.headers or "application/json" in request.headers.get("Accept", "")


def unauthorized():
    response = JsonResponse({"detail": _("Sign in, or send your API token (Authorization: Token KEY).")}, status=401)
    response["WWW-Authenticate"] = "Token"
    return response


def login_or_token_required(view):
    """Like login_required, for a view API clients also call: a browser without a session is sent
    to the sign-in page; an API client is let in by its token, and otherwise, or where its role may
    not go, answered in JSON (401, 403, 404), never with a redirect to an HTML page."""

    @wraps(view)
    def answer(request, *args, **kwargs):
        api_client = is_api_client(request)
        if not request.user.is_authenticated:
            if not api_client:
                return redirect_to_login(request.get_full_path())
            user = token_user(request)
            if user is None:
                return unauthorized()
            request.user = user
        if not api_client:
            return view(request, *args, **kwargs)
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as refusal:
            return JsonResponse({"detail": str(refusal) or _("Your role does not allow this.")}, status=403)
        except Http404 as missing:
            return JsonResponse({"detail": str(missing) or _("Not found.")}, status=404)

    return answer
