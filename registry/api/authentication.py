"""The API's token check: django-rest-knox's, without its sweep of the account's other tokens.

knox reads every token of the account on every request to delete the expired ones among them; that
is housekeeping, not the check. Here the token sent is checked (digest, expiry, active account) as knox
does, an expired one is deleted when it is sent, and the account's other expired tokens are deleted
when it asks for a new one (registry.api.tokens.TokenObtainApi)."""

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth
from knox.signals import token_expired


class TokenAuthentication(auth.TokenAuthentication):
    def _cleanup_token(self, auth_token):
        if auth_token.expiry is None or auth_token.expiry >= timezone.now():
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=self.__class__, username=username, source="auth_token")
        return True


def delete_expired_tokens(user):
    """Delete the account's expired tokens (none of them signs in any more)."""
    from knox.models import AuthToken

    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI schema describes this check as knox's (`Authorization: Token KEY`)."""

    target_class = "registry.api.authentication.TokenAuthentication"
