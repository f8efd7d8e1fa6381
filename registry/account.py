"""What a signed-in account holds (its permissions, roles and sites), read in one query when a request first
asks and kept on that request's user object only, so a role or site taken away counts from the next request."""

import functools

from django.contrib.auth.backends import ModelBackend, UserModel
from django.db import connection, router

from registry.rows import RowReader, execute_prepared

USER, GROUP, ROLE, SITE = "u", "g", "r", "s"


def load(user):
    """Read `user`'s permissions, roles and sites in one query, once per user object.

    Fills the caches Django's ModelBackend keeps on the user (`_user_perm_cache`, `_group_perm_cache`,
    `_perm_cache`) with what it would read, and the registry's own (`_role_names`, `_site_ids`)."""
    if getattr(user, "_account_loaded", False):
        return
    found = {USER: set(), GROUP: set(), ROLE: set(), SITE: set()}
    sql = _account_sql(superuser=user.is_superuser)
    with connection.cursor() as cursor:
        name = "registry_account_superuser" if user.is_superuser else "registry_account"
        execute_prepared(cursor, name, sql, [user.pk] * sql.count("%s"))
        for kind, value in cursor.fetchall():
            found[kind].add(value)
    user._user_perm_cache = found[USER]
    user._group_perm_cache = found[USER] if user.is_superuser else found[GROUP]
    user._perm_cache = found[USER] | found[GROUP]
    user._role_names = sorted(found[ROLE])
    user._site_ids = sorted(int(pk) for pk in found[SITE])
    user._account_loaded = True


@functools.cache
def _account_sql(superuser):
    """One statement, (kind, value) rows: the account's own permissions (every permission for a
    superuser), its roles' permissions, its roles' names and its sites' ids. Written out rather than
    built by the ORM because every signed-in request runs it, and composing four querysets costs more
    than the query."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from registry.models import SiteMembership

    def table(model):
        return connection.ops.quote_name(model._meta.db_table)

    def through(model, name):
        field = model._meta.get_field(name)
        column = connection.ops.quote_name
        return table(field.remote_field.through), column(field.m2m_column_name()), column(field.m2m_reverse_name())

    user_permissions, up_user, up_permission = through(get_user_model(), "user_permissions")
    user_groups, ug_user, ug_group = through(get_user_model(), "groups")
    group_permissions, gp_group, gp_permission = through(Group, "permissions")
    permission = (
        f"ct.app_label || '.' || p.codename FROM {table(Permission)} p "
        f"JOIN {table(ContentType)} ct ON ct.id = p.content_type_id"
    )
    own = (
        f"SELECT '{USER}', {permission}"
        if superuser
        else f"SELECT '{USER}', {permission} JOIN {user_permissions} up ON up.{up_permission} = p.id "
        f"WHERE up.{up_user} = %s"
    )
    return " UNION ALL ".join(
        [
            own,
            f"SELECT '{GROUP}', {permission} JOIN {group_permissions} gp ON gp.{gp_permission} = p.id "
            f"JOIN {user_groups} ug ON ug.{ug_group} = gp.{gp_group} WHERE ug.{ug_user} = %s",
            f"SELECT '{ROLE}', g.name FROM {table(Group)} g JOIN {user_groups} ug ON ug.{ug_group} = g.id "
            f"WHERE ug.{ug_user} = %s",
            f"SELECT '{SITE}', CAST(m.site_id AS VARCHAR(20)) FROM {table(SiteMembership)} m WHERE m.user_id = %s",
        ]
    )


def role_names(user):
    """The names of the account's roles (groups), in alphabetical order."""
    if not user.is_authenticated:
        return []
    load(user)
    return user._role_names


def site_ids(user):
    """The ids of the sites the account belongs to, in order."""
    if not user.is_authenticated:
        return []
    load(user)
    return user._site_ids


class AccountBackend(ModelBackend):
    """Django's ModelBackend (same sign-in, same permission answers) with the account read by `load`, and
    the signed-in account's row read with SQL written once (every signed-in request reads it)."""

    def get_user(self, user_id):
        user = _user_reader().one([user_id], router.db_for_read(UserModel))
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_user_permissions(self, user_obj, obj=None):
        return self._permissions(user_obj, obj, "_user_perm_cache")

    def get_group_permissions(self, user_obj, obj=None):
        return self._permissions(user_obj, obj, "_group_perm_cache")

    def get_all_permissions(self, user_obj, obj=None):
        return self._permissions(user_obj, obj, "_perm_cache")

    def _permissions(self, user_obj, obj, cache):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        load(user_obj)
        return getattr(user_obj, cache)


@functools.cache
def _user_reader():
    return RowReader(UserModel, "{pk} = %s")
