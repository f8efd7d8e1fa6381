"""Sessions in the database, each remembering when its stored copy expires, so that the idle timeout
can be renewed by a write only when it would move (config.session_lifetime)."""

import functools

from django.contrib.sessions.backends import db
from django.db import router
from django.utils import timezone

from registry.rows import RowReader, adapt

# The backend signed-in sessions named before registry.account.AccountBackend replaced it: such a
# session is read as one of AccountBackend, so deploying it signs no one out.
FORMER_BACKEND = "django.contrib.auth.backends.ModelBackend"
BACKEND = "registry.account.AccountBackend"
BACKEND_KEY = "_auth_user_backend"


class SessionStore(db.SessionStore):
    stored_expiry = None  # when the stored copy expires; None for a session not (yet) in the database

    def _get_session_from_db(self):
        """The stored session if it has not expired (as Django's own store reads it), with SQL written once."""
        using = router.db_for_read(self.model)
        stored = _reader(self.model).one(
            [self.session_key, adapt(self.model, "expire_date", timezone.now(), using)], using
        )
        if stored is None:
            self._session_key = None
        self.stored_expiry = stored.expire_date if stored else None
        return stored

    async def _aget_session_from_db(self):
        stored = await super()._aget_session_from_db()
        self.stored_expiry = stored.expire_date if stored else None
        return stored

    def decode(self, session_data):
        data = super().decode(session_data)
        if data.get(BACKEND_KEY) == FORMER_BACKEND:
            data[BACKEND_KEY] = BACKEND
        return data


@functools.cache
def _reader(model):
    return RowReader(model, "{session_key} = %s AND {expire_date} > %s")
