"""The signed-in account in the page's top bar: its roles, read with its permissions (registry.account)."""

from django import template

from registry import account

register = template.Library()


@register.filter
def role_names(user):
    """The names of the account's roles, alphabetically."""
    return account.role_names(user)
