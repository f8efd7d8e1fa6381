"""Pagination of list endpoints: `count`, `next`, `previous`, `results`; `page_size` from 1 to 500.
A malformed `page`, `page_size` or `format` is refused with 400 naming it, not silently replaced."""

from functools import partial

from django.core.paginator import Paginator
from django.http import Http404
from django.utils.functional import cached_property
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination


def _whole_number(raw):
    return raw.isascii() and raw.isdigit() and len(raw) < 10


def patient_links_required(model):
    """Whether every record of ``model`` has a patient (each link on its path to the patient is required)."""
    path = getattr(model, "patient_path", None)
    if not path:
        return False
    for name in path.split("__"):
        field = model._meta.get_field(name)
        if field.null:
            return False
        model = field.related_model
    return True


def count_in_sites(model, user, scoped, unscoped):
    """The number of records in ``scoped``: ``unscoped`` (the same list, filtered alike) narrowed to the
    patients of the account's sites. While no patient lies outside those sites the two are the same
    records, and counting ``unscoped`` spares joining every record to its patient (for a list of scores,
    three tables); a registry with patients of other sites counts ``scoped``."""
    from registry.models import Patient
    from registry.selectors import site_ids

    if patient_links_required(model) and not Patient.objects.exclude(site_id__in=site_ids(user)).exists():
        return unscoped().count()
    return scoped.count()


class RecordPaginator(Paginator):
    """Django's paginator, counting with the view's `list_count` when it has one."""

    def __init__(self, object_list, per_page, counted=None, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.counted = counted

    @cached_property
    def count(self):
        return super().count if self.counted is None else self.counted(self.object_list)


class RecordPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _whole_number(raw) or not 1 <= int(raw) <= self.max_page_size:
            message = _("page_size must be a whole number from 1 to %(maximum)d.") % {"maximum": self.max_page_size}
            raise ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def paginate_queryset(self, queryset, request, view=None):
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and raw not in self.last_page_strings and not (_whole_number(raw) and int(raw) >= 1):
            message = _("page must be a whole number from 1, or 'last'.")
            raise ValidationError({self.page_query_param: [message]})
        self.django_paginator_class = partial(RecordPaginator, counted=getattr(view, "list_count", None))
        return super().paginate_queryset(queryset, request, view)


class StrictContentNegotiation(DefaultContentNegotiation):
    """`?format=` naming no renderer of the endpoint is a 400 naming the parameter (DRF answers 404)."""

    def filter_renderers(self, renderers, format):
        try:
            return super().filter_renderers(renderers, format)
        except Http404:
            accepted = ", ".join(sorted({renderer.format for renderer in renderers}))
            message = _("Unknown format; this endpoint answers in: %(accepted)s.") % {"accepted": accepted}
            raise ValidationError({"format": [message]}) from None
