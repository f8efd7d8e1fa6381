"""Pagination of list endpoints: `count`, `next`, `previous`, `results`; `page_size` from 1 to 500.
A malformed `page`, `page_size` or `format` is refused with 400 naming it, not silently replaced."""

from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination


def _whole_number(raw):
    return raw.isascii() and raw.isdigit() and len(raw) < 10


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
