"""The access audit: every read of identified data, and every research bulk read, written to AccessLog."""

import functools
import ipaddress

from django.db import connections, router, transaction
from django.utils import timezone

from registry.models import AccessedPatient, AccessLog, Patient

Kind = AccessLog.Kind


def record_access(request, kind, *, record_type="", object_id="", patients=()):
    """Log that `request`'s account read `kind` (an AccessLog.Kind) showing `patients`; returns the entry's id.

    Written whole or not at all, and at a fixed cost whatever the number of patients, so a list of 500
    costs what a page of one does: on PostgreSQL one statement (the entry, then its patients from two
    arrays), elsewhere two in one transaction. The SQL is written once (every read of identified data
    runs it, and the ORM's per-row work for a page of patients cost more than the page's own queries).
    `patients` are Patient instances (only `pk` and `study_id` are read).
    """
    user = request.user if request.user.is_authenticated else None
    named = {patient.pk: patient.study_id for patient in patients if patient is not None}
    entry = {
        "at": timezone.now(),
        "user": user.pk if user else None,
        "username": user.get_username() if user else "",
        "kind": kind,
        "record_type": record_type,
        "object_id": str(object_id or "")[:64],
        "path": request.get_full_path()[:1000],
        "ip": _address(request.META.get("REMOTE_ADDR")),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
    }
    using = router.db_for_write(AccessLog)
    connection = connections[using]
    values = [AccessLog._meta.get_field(name).get_db_prep_save(entry[name], connection) for name in ENTRY_FIELDS]
    statements = _statements(using)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(statements.entry_and_patients, [*values, list(named), list(named.values())])
            return cursor.fetchone()[0]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        cursor.execute(statements.entry, values)
        access_id = cursor.fetchone()[0]
        if named:
            cursor.executemany(statements.patient, [(access_id, pk, study_id) for pk, study_id in named.items()])
    return access_id


ENTRY_FIELDS = ("at", "user", "username", "kind", "record_type", "object_id", "path", "ip", "user_agent")


@functools.cache
def _statements(using):
    return _Statements(connections[using])


class _Statements:
    def __init__(self, connection):
        quote = connection.ops.quote_name
        fields = [AccessLog._meta.get_field(name) for name in ENTRY_FIELDS]
        columns = ", ".join(quote(field.column) for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        log, pk = quote(AccessLog._meta.db_table), quote(AccessLog._meta.pk.column)
        self.entry = f"INSERT INTO {log} ({columns}) VALUES ({placeholders}) RETURNING {pk}"
        patient_columns = [
            AccessedPatient._meta.get_field(name).column for name in ("access", "patient_id", "study_id")
        ]
        accessed = quote(AccessedPatient._meta.db_table)
        listed = ", ".join(quote(column) for column in patient_columns)
        self.patient = f"INSERT INTO {accessed} ({listed}) VALUES (%s, %s, %s)"
        # Data-modifying WITH queries run to completion whether or not the main query reads them.
        self.entry_and_patients = (
            f"WITH entry AS ({self.entry}), named AS (INSERT INTO {accessed} ({listed}) "
            f"SELECT entry.{pk}, named.patient_id, named.study_id FROM entry, "
            "UNNEST(%s::bigint[], %s::varchar[]) AS named (patient_id, study_id)) "
            f"SELECT {pk} FROM entry"
        )


def loaded_patients(model, records):
    """The patients that `records` of `model` belong to, read from the records themselves when each one's
    path to its patient was loaded with it (select_related); None when it was not (then ask patients_of)."""
    path = model.patient_path
    if path is None:
        return []
    names = path.split("__") if path else []
    found = []
    for record in records:
        owner = record
        for name in names:
            if not owner._meta.get_field(name).is_cached(owner):
                return None
            owner = getattr(owner, name)
        found.append(owner)
    return found


def patients_of(model, pks):
    """The patients that records `pks` of `model` belong to, in one query (none for records of no patient)."""
    path = model.patient_path
    if path is None or not pks:
        return []
    if path == "":
        return list(Patient.objects.filter(pk__in=pks).only("pk", "study_id"))
    owners = model.objects.filter(pk__in=pks).values(path + "__pk")
    return list(Patient.objects.filter(pk__in=owners).only("pk", "study_id"))


def _address(value):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def access_entries(*, patient="", user=""):
    """The log newest first, filtered by patient (its id or study ID) and by user name, as the
    access-log page and API both read it."""
    entries = AccessLog.objects.prefetch_related("patients")
    patient, user = (patient or "").strip(), (user or "").strip()
    if "\x00" in patient + user:  # no name or study ID holds one; the database would refuse it
        return entries.none()
    if patient:
        by_id = patient.isascii() and patient.isdigit() and len(patient) <= 18
        match = {"patient_id": int(patient)} if by_id else {"study_id__iexact": patient}
        entries = entries.filter(pk__in=AccessedPatient.objects.filter(**match).values("access_id"))
    if user:
        entries = entries.filter(username__iexact=user)
    return entries
