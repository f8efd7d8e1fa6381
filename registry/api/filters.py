"""Filters for the API's list endpoints: by patient, visit and date range; anything else is refused."""

import django_filters
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import PermissionDenied, ValidationError

from registry.api.permissions import sees_identifiers
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)

# Query parameters every list understands besides its filters (pagination, search, ordering, renderer).
LIST_PARAMETERS = {"page", "page_size", "search", "ordering", "format"}


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing (400) a list query parameter that no filter reads, so a typo
    such as `?patinet=3` is not silently answered with every record."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if getattr(view, "action", None) == "list":
            known = set(filterset.filters) if filterset is not None else set()
            unknown = sorted(set(request.query_params) - known - LIST_PARAMETERS)
            if unknown:
                accepted = ", ".join(sorted(known | LIST_PARAMETERS))
                message = _("Unknown query parameter; this list accepts: %(accepted)s.") % {"accepted": accepted}
                raise ValidationError({name: [message] for name in unknown})
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        view.list_filters = filterset  # the list's count applies the same filters (views.SiteScopedList)
        return filterset.qs


def with_model_ranges(filterset):
    """Number filters on model fields refuse values outside the field's range (`gmfcs_level=477` is a 400)."""
    model = filterset._meta.model
    for item in filterset.filters.values():
        if not isinstance(item, django_filters.NumberFilter) or "__" in item.field_name:
            continue
        try:
            field = model._meta.get_field(item.field_name)
        except Exception:  # a filter on something other than a concrete field
            continue
        for validator in field.validators:
            if isinstance(validator, MinValueValidator):
                item.extra.setdefault("min_value", validator.limit_value)
            elif isinstance(validator, MaxValueValidator):
                item.extra.setdefault("max_value", validator.limit_value)


class RecordFilter(django_filters.FilterSet):
    """Adds `patient` (its id) to every list, and `date_after`/`date_before` where records have a date."""

    date_field = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = self._meta.model.patient_path
        self.filters["patient"] = django_filters.NumberFilter(field_name=path + "__pk" if path else "pk")
        self.scope_related_filters()
        if self.date_field:
            self.filters["date_after"] = django_filters.DateFilter(field_name=self.date_field, lookup_expr="gte")
            self.filters["date_before"] = django_filters.DateFilter(field_name=self.date_field, lookup_expr="lte")
        with_model_ranges(self)

    def scope_related_filters(self):
        """`?harvest=`, `?visit=`, ... accept only records the account sees: another site's answers as a record
        that does not exist would, so a filter cannot tell whether it exists."""
        if self.request is None:
            return
        from registry.selectors import visible

        for item in self.filters.values():
            queryset = getattr(item, "queryset", None)
            if isinstance(item, django_filters.ModelChoiceFilter) and hasattr(queryset, "model"):
                if getattr(queryset.model, "patient_path", None) is not None:
                    item.queryset = visible(queryset.model, self.request.user, queryset)
                    item.__dict__.pop("_field", None)  # a form field made before would keep the old choices

    @property
    def qs(self):
        if self.request is not None and not sees_identifiers(self.request.user):
            # Bisecting a date filter would reveal the exact dates that research views hide.
            used = [name for name in ("date_after", "date_before") if self.data.get(name)]
            if used:
                raise PermissionDenied(_("Date filters need access to identifiers; filter by patient instead."))
        return super().qs


class PatientFilter(RecordFilter):
    search = django_filters.CharFilter(method="filter_search", label="Study ID, name or record number")

    class Meta:
        model = Patient
        fields = ["sex", "cp_subtype", "etiology", "gmfcs_level"]

    def filter_search(self, queryset, name, value):
        from registry.selectors import patient_search

        identified = self.request is None or sees_identifiers(self.request.user)
        return queryset.filter(pk__in=patient_search(value, identified).values("pk"))


class HarvestFilter(RecordFilter):
    date_field = "date"

    class Meta:
        model = BoneMarrowHarvest
        fields = []


class ProductFilter(RecordFilter):
    class Meta:
        model = CellProduct
        fields = ["harvest"]


class ProcedureFilter(RecordFilter):
    date_field = "date"

    class Meta:
        model = IntrathecalProcedure
        fields = ["product"]


class AdverseEventFilter(RecordFilter):
    date_field = "onset_date"

    class Meta:
        model = AdverseEvent
        fields = ["procedure", "grade", "serious"]


class VisitFilter(RecordFilter):
    date_field = "date"

    class Meta:
        model = Visit
        fields = ["kind"]


class ScoreFilter(RecordFilter):
    instrument = django_filters.CharFilter(field_name="instrument__code")

    class Meta:
        model = Score
        fields = ["visit"]


class InstrumentFilter(django_filters.FilterSet):
    class Meta:
        model = Instrument
        fields = ["code", "higher_is_better"]
