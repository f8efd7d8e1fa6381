"""Filters for the API's list endpoints: by patient, visit and date range."""

import django_filters
from django.utils.translation import gettext as _
from rest_framework.exceptions import PermissionDenied

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


class RecordFilter(django_filters.FilterSet):
    """Adds `patient` (its id) to every list, and `date_after`/`date_before` where records have a date."""

    date_field = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = self._meta.model.patient_path
        self.filters["patient"] = django_filters.NumberFilter(field_name=path + "__pk" if path else "pk")
        if self.date_field:
            self.filters["date_after"] = django_filters.DateFilter(field_name=self.date_field, lookup_expr="gte")
            self.filters["date_before"] = django_filters.DateFilter(field_name=self.date_field, lookup_expr="lte")

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
