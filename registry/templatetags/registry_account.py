"""The signed-in account in the page's top bar: its roles, and the navigation its permissions open."""

import functools

from django import template
from django.template.loader import render_to_string
from django.urls import get_script_prefix
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from registry import account

register = template.Library()

# Every permission templates/_navigation.html asks about.
NAVIGATION_PERMISSIONS = frozenset(
    {
        "registry.view_identifiers",
        "registry.add_visit",
        "imaging.view_scan",
        "registry.view_query",
        "research.view_cohort",
        "research.view_exportlog",
        "registry.view_accesslog",
    }
)


@register.filter
def role_names(user):
    """The names of the account's roles, alphabetically."""
    return account.role_names(user)


@register.simple_tag(takes_context=True)
def navigation(context):
    """The top bar's links for this account, read from the request's permissions every time."""
    user = context["user"]
    superuser = user.is_active and user.is_superuser
    held = NAVIGATION_PERMISSIONS if superuser else NAVIGATION_PERMISSIONS & user.get_all_permissions()
    return _navigation(frozenset(held), user.is_staff, get_language(), get_script_prefix())


@functools.lru_cache(maxsize=256)
def _navigation(held, is_staff, language, script_prefix):
    """The navigation for one set of held permissions, staff flag, language and URL prefix: these are all
    that it depends on, so each is rendered once per process and never goes stale."""
    perms = {}
    for name in held:
        app_label, codename = name.split(".")
        perms.setdefault(app_label, {})[codename] = True
    html = render_to_string("_navigation.html", {"perms": perms, "is_staff": is_staff})
    return mark_safe(html.strip())  # the template's own output, escaped as it rendered
