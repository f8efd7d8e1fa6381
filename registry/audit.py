"""The access audit: every read of identified data, and every research bulk read, written to AccessLog."""

import ipaddress

from django.db import transaction

from registry.models import AccessedPatient, AccessLog, Patient

Kind = AccessLog.Kind


def record_access(request, kind, *, record_type="", object_id="", patients=()):
    """Log that `request`'s account read `kind` (an AccessLog.Kind) showing `patients`.

    Two inserts whatever the number of patients, so a list of 500 costs what a page of one does, in one
    transaction: the entry is written whole or not at all, and costs one commit (one flush to disk).
    `patients` are Patient instances (only `pk` and `study_id` are read).
    """
    user = request.user if request.user.is_authenticated else None
    named = {patient.pk: patient.study_id for patient in patients if patient is not None}
    with transaction.atomic(savepoint=False):
        access = AccessLog.objects.create(
            user=user,
            username=user.get_username() if user else "",
            kind=kind,
            record_type=record_type,
            object_id=str(object_id or "")[:64],
            path=request.get_full_path()[:1000],
            ip=_address(request.META.get("REMOTE_ADDR")),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )
        if named:
            AccessedPatient.objects.bulk_create(
                AccessedPatient(access=access, patient_id=pk, study_id=study_id) for pk, study_id in named.items()
            )
    return access


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
