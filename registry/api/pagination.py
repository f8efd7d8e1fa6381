"""Pagination of list endpoints: `count`, `next`, `previous`, `results`; `page_size` up to 500."""

from rest_framework.pagination import PageNumberPagination


class RecordPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500
