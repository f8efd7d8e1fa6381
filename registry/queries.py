"""The query workflow: a person opens a query on a record (rules open theirs in registry/quality.py);
the assigned role answers it; whoever opened it, or a registry-admin, closes or re-opens it. Each step
is a QueryEvent with who and when.

Who may do what: opening needs `registry.add_query`; answering, a member of the assigned role (hematology
leads answer for hematology) or `registry.manage_queries` (held by registry-admins); closing and
re-opening, the person who opened
the query or `registry.manage_queries` (a rule's queries close by themselves when the rule no longer
finds the problem, and registry-admins close the ones that are accepted as they are)."""

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from registry import selectors
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    IntrathecalProcedure,
    Patient,
    Query,
    QueryEvent,
    Score,
    Visit,
)
from registry.roles import HEMATOLOGY, HEMATOLOGY_LEAD, RADIOLOGY, REGISTRY_ADMIN

MANAGE = "registry.manage_queries"
# The kinds of record a query may be opened on, by the names the pages and the API use.
RECORD_KINDS = {
    "patients": Patient,
    "harvests": BoneMarrowHarvest,
    "products": CellProduct,
    "procedures": IntrathecalProcedure,
    "adverse-events": AdverseEvent,
    "visits": Visit,
    "scores": Score,
}
KIND_OF_MODEL = {model: kind for kind, model in RECORD_KINDS.items()}
# The related records a record's name (its __str__) reads, so that a list of queries names theirs in one read.
NAMED_WITH = {CellProduct: ("harvest",), Score: ("instrument", "muscle")}
TEXT_LIMIT = 2000


class QueryTransitionRefused(Exception):
    """The step does not follow from the query's status (e.g. answering a closed query): 409."""


def record_for(kind, record_id, user):
    """The record a query is opened on, among those ``user`` may see (another site's record is as one
    that does not exist); ValidationError names the kind or id that was given."""
    model = RECORD_KINDS.get(kind)
    if model is None:
        raise ValidationError(
            {
                "record_kind": [
                    _("“%(kind)s” is not a kind of record; use one of %(kinds)s.")
                    % {"kind": kind, "kinds": ", ".join(RECORD_KINDS)}
                ]
            }
        )
    given = str(record_id)
    found = selectors.visible(model, user).filter(pk=given) if given.isascii() and given.isdigit() else None
    record = found.first() if found is not None else None
    if record is None:
        raise ValidationError(
            {"record_id": [_("There is no %(kind)s record #%(id)s.") % {"kind": kind, "id": record_id}]}
        )
    return record


def _clean_text(text, field, required=True):
    text = (text or "").strip()
    if required and not text:
        raise ValidationError({field: [_("Write the text; it cannot be empty.")]})
    if len(text) > TEXT_LIMIT:
        raise ValidationError({field: [_("Keep it under %(limit)s characters.") % {"limit": TEXT_LIMIT}]})
    return text


def _check_field(record, field):
    field = (field or "").strip()
    names = {item.name for item in type(record)._meta.fields if item.editable and item.name != "id"}
    if field and field not in names:
        raise ValidationError(
            {
                "field": [
                    _("“%(field)s” is not a field of this record; use one of %(fields)s.")
                    % {"field": field, "fields": ", ".join(sorted(names))}
                ]
            }
        )
    return field


@transaction.atomic
def query_open(*, actor, record, text, field="", assigned_role=Query.Role.HEMATOLOGY):
    """A person's query on `record` (and `field`), assigned to a role."""
    if not actor.has_perm("registry.add_query"):
        raise PermissionDenied(_("Your role does not allow this."))
    if assigned_role not in Query.Role.values:
        raise ValidationError(
            {
                "assigned_role": [
                    _("“%(role)s” is not a role queries go to; use one of %(roles)s.")
                    % {"role": assigned_role, "roles": ", ".join(Query.Role.values)}
                ]
            }
        )
    text = _clean_text(text, "text")
    query = Query(
        patient=record.owner_patient,
        record_type=ContentType.objects.get_for_model(type(record)),
        record_id=record.pk,
        field=_check_field(record, field),
        text=text,
        assigned_role=assigned_role,
        opened_by=actor,
    )
    query._history_user = actor
    query.save()
    QueryEvent.objects.create(query=query, action=QueryEvent.Action.OPENED, user=actor, note=text)
    return query


# The groups that answer for each role a query is assigned to: hematology leads answer for hematology.
ANSWERING_GROUPS = {
    Query.Role.HEMATOLOGY: [HEMATOLOGY, HEMATOLOGY_LEAD],
    Query.Role.RADIOLOGY: [RADIOLOGY],
    Query.Role.REGISTRY_ADMIN: [REGISTRY_ADMIN],
}


def may_answer(user, query):
    groups = ANSWERING_GROUPS.get(query.assigned_role, [query.assigned_role])
    return user.has_perm(MANAGE) or user.groups.filter(name__in=groups).exists()


def may_close(user, query):
    return user.has_perm(MANAGE) or (query.opened_by_id is not None and query.opened_by_id == user.pk)


def _transition(query, actor, *, allowed_from, status, action, note):
    current = Query.objects.select_for_update().get(pk=query.pk)
    if current.status not in allowed_from:
        raise QueryTransitionRefused(
            _("This query is %(status)s; it cannot be %(action)s now.")
            % {"status": current.get_status_display().lower(), "action": QueryEvent.Action(action).label}
        )
    current.status = status
    current._history_user = actor
    current.save()
    QueryEvent.objects.create(query=current, action=action, user=actor, note=note)
    return current


@transaction.atomic
def query_answer(*, actor, query, text):
    if not may_answer(actor, query):
        raise PermissionDenied(_("This query is assigned to %(role)s.") % {"role": query.get_assigned_role_display()})
    text = _clean_text(text, "text")
    return _transition(
        query,
        actor,
        allowed_from={Query.Status.OPEN},
        status=Query.Status.ANSWERED,
        action=QueryEvent.Action.ANSWERED,
        note=text,
    )


@transaction.atomic
def query_close(*, actor, query, note=""):
    if not may_close(actor, query):
        raise PermissionDenied(_("Only the person who opened this query, or a registry-admin, may close it."))
    note = _clean_text(note, "note", required=False)
    return _transition(
        query,
        actor,
        allowed_from={Query.Status.OPEN, Query.Status.ANSWERED},
        status=Query.Status.CLOSED,
        action=QueryEvent.Action.CLOSED,
        note=note,
    )


@transaction.atomic
def query_reopen(*, actor, query, note):
    if not may_close(actor, query):
        raise PermissionDenied(_("Only the person who opened this query, or a registry-admin, may re-open it."))
    note = _clean_text(note, "note")
    return _transition(
        query,
        actor,
        allowed_from={Query.Status.CLOSED},
        status=Query.Status.OPEN,
        action=QueryEvent.Action.REOPENED,
        note=note,
    )


def describe_records(queries):
    """{query pk: (kind, record or None)} for a list of queries, one read per kind of record."""
    wanted = {}
    for query in queries:
        wanted.setdefault(query.record_type_id, set()).add(query.record_id)
    found = {}
    for type_id, ids in wanted.items():
        model = ContentType.objects.get_for_id(type_id).model_class()
        records = model.objects.select_related(*NAMED_WITH.get(model, ()))
        for pk, record in records.in_bulk(list(ids)).items():
            found[(type_id, pk)] = (KIND_OF_MODEL.get(model), record)
    return {query.pk: found.get((query.record_type_id, query.record_id), (None, None)) for query in queries}


def counts_by_record(pending):
    """{(kind, record id): number of queries} of ``pending`` (queries already read, e.g. a patient's open
    or answered ones), with no further query."""
    counts = {}
    types = {}
    for query in pending:
        type_id = query.record_type_id
        if type_id not in types:
            types[type_id] = KIND_OF_MODEL.get(ContentType.objects.get_for_id(type_id).model_class())
        key = (types[type_id], query.record_id)
        counts[key] = counts.get(key, 0) + 1
    return counts


def pending_by_event(patient_id):
    """Open or answered queries of one patient per event of its course, for exports that ask for the
    count: {"visit": {visit id: count}, "procedure": {procedure id: count}}. A score's queries count
    for its visit, an adverse event's for its procedure, a product's for the procedures that used it."""
    counts = {"visit": {}, "procedure": {}}
    pending = Query.objects.filter(patient_id=patient_id).exclude(status=Query.Status.CLOSED)
    by_kind = {}
    for type_id, record_id in pending.values_list("record_type_id", "record_id"):
        by_kind.setdefault(ContentType.objects.get_for_id(type_id).model_class(), []).append(record_id)

    def add(event, ids):
        for record_id in ids:
            counts[event][record_id] = counts[event].get(record_id, 0) + 1

    add("visit", by_kind.get(Visit, []))
    add(
        "visit",
        [Score.objects.filter(pk=pk).values_list("visit_id", flat=True).first() for pk in by_kind.get(Score, [])],
    )
    add("procedure", by_kind.get(IntrathecalProcedure, []))
    events = AdverseEvent.objects.filter(pk__in=by_kind.get(AdverseEvent, [])).values_list("procedure_id", flat=True)
    add("procedure", list(events))
    for product_id in by_kind.get(CellProduct, []):
        add("procedure", IntrathecalProcedure.objects.filter(product_id=product_id).values_list("pk", flat=True))
    return counts


def field_label(query):
    """The field a query is about as people read it: the model field's name, or as stored (an instrument code)."""
    if not query.field:
        return ""
    model = query.record_type.model_class()
    try:
        return str(model._meta.get_field(query.field).verbose_name)
    except FieldDoesNotExist:  # an instrument's code, or a field since removed
        return query.field


def query_step(step, *, actor, query, text):
    """Take ``query`` one step: "answer" (``text`` is the answer), "close" or "reopen" (``text`` is the note)."""
    if step == "answer":
        return query_answer(actor=actor, query=query, text=text)
    if step == "close":
        return query_close(actor=actor, query=query, note=text)
    if step == "reopen":
        return query_reopen(actor=actor, query=query, note=text)
    raise ValueError(step)


# The steps a query can be taken, as the pages and the API name them.
STEPS = ("answer", "close", "reopen")
