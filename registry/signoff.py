"""Investigators' sign-off: signing a visit (with its scores) or a whole patient's data after
re-entering the password, the lock a standing signature puts on what it covers, and the
registry-admin's unlock, which voids the signature with a reason."""

from django.contrib.auth import authenticate
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.models import Patient, Score, Signature, Visit

SIGN = "registry.sign_records"
UNLOCK = "registry.unlock_records"

VISIT_MEANING = gettext_lazy(
    "I confirm that the data of this visit, and its scores, are complete and correct, and that I "
    "reviewed them as the responsible investigator. This electronic signature is the legally binding "
    "equivalent of my handwritten signature."
)
PATIENT_MEANING = gettext_lazy(
    "I confirm that all of this patient's data (harvests, cell products, procedures, adverse events, "
    "visits and scores) are complete and correct, and that I reviewed them as the responsible "
    "investigator. This electronic signature is the legally binding equivalent of my handwritten signature."
)


def _covering(instance):
    """(patient id, visit id or None) whose standing signatures would cover `instance`."""
    if isinstance(instance, Patient):
        return instance.pk, None
    try:
        patient = instance.owner_patient
    except (ObjectDoesNotExist, NotImplementedError):
        return None, None
    if patient is None:
        return None, None
    if isinstance(instance, Visit):
        return patient.pk, instance.pk
    if isinstance(instance, Score):
        return patient.pk, instance.visit_id
    return patient.pk, None


def standing_signature(instance):
    """The standing signature that locks `instance`, or None."""
    patient_id, visit_id = _covering(instance)
    if patient_id is None:
        return None
    scope = Q(visit__isnull=True)
    if visit_id is not None:
        scope |= Q(visit_id=visit_id)
    return (
        Signature.objects.filter(scope, patient_id=patient_id, voided_at__isnull=True)
        .order_by("signed_at", "pk")
        .first()
    )


def patient_locks(patient):
    """What is locked on a patient's page: {"patient": signature or None, "visits": {visit_id: signature}}."""
    standing = Signature.objects.filter(patient=patient, voided_at__isnull=True)
    locks = {"patient": None, "visits": {}}
    for signature in standing:
        if signature.visit_id is None:
            locks["patient"] = signature
        else:
            locks["visits"][signature.visit_id] = signature
    return locks


def _check_password(request, user, password):
    """Re-entered password of the signer; a wrong one counts toward the sign-in lockout (django-axes)."""
    if not password:
        raise ValidationError({"password": [_("Enter your password to sign.")]})
    checked = authenticate(request, username=user.get_username(), password=password)
    if checked is None or checked.pk != user.pk:
        raise ValidationError({"password": [_("The password is not correct; nothing was signed.")]})


def _sign(request, *, patient, visit, subject, meaning, password, acknowledged):
    user = request.user
    if not user.has_perm(SIGN):
        raise PermissionDenied(_("Only investigators may sign."))
    if not acknowledged:
        raise ValidationError({"acknowledge": [_("Tick the box to confirm the meaning of your signature.")]})
    _check_password(request, user, password)
    signature = Signature(
        patient=patient,
        visit=visit,
        subject=subject,
        meaning=str(meaning),
        signed_by=user,
        signer_name=user.get_username(),
    )
    signature._history_user = user
    try:
        with transaction.atomic():
            signature.full_clean()
            signature.save()
    except IntegrityError as error:  # signed by someone else at the same moment
        raise ValidationError(_("This is already signed.")) from error
    return signature


def visit_subject(visit):
    """What a visit signature is worded as signing (shown on the sign page and stored)."""
    return _("%(visit)s of %(study_id)s") % {"visit": visit, "study_id": visit.patient.study_id}


def patient_subject(patient):
    """What a patient signature is worded as signing (shown on the sign page and stored)."""
    return _("All data of %(study_id)s") % {"study_id": patient.study_id}


def sign_visit(request, visit, *, password, acknowledged):
    """Sign `visit` and its scores as `request.user`; ValidationError names a wrong password or a
    missing acknowledgement, and nothing is signed."""
    if standing_for_patient(visit.patient) is not None:
        raise ValidationError(_("All of this patient's data are already signed, this visit included."))
    subject = visit_subject(visit)
    return _sign(
        request,
        patient=visit.patient,
        visit=visit,
        subject=subject,
        meaning=VISIT_MEANING,
        password=password,
        acknowledged=acknowledged,
    )


def sign_patient(request, patient, *, password, acknowledged):
    """Sign all of `patient`'s data as `request.user`."""
    subject = patient_subject(patient)
    return _sign(
        request,
        patient=patient,
        visit=None,
        subject=subject,
        meaning=PATIENT_MEANING,
        password=password,
        acknowledged=acknowledged,
    )


@transaction.atomic
def unlock(signature, actor, reason):
    """Void a standing signature (a registry-admin, with a reason): what it covered can be edited again."""
    if not actor.has_perm(UNLOCK):
        raise PermissionDenied(_("Only a registry-admin may unlock signed records."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the signed records are unlocked.")]})
    signature = Signature.objects.select_for_update().get(pk=signature.pk)
    if signature.voided_at is not None:
        raise ValidationError(_("This signature was already voided."))
    signature.voided_at = timezone.now()
    signature.voided_by = actor
    signature.void_reason = reason
    signature._history_user = actor
    signature.save()
    return signature


def standing_for_visit(visit):
    """The visit's own standing signature (what unlocking the visit voids), or None."""
    return Signature.objects.filter(visit=visit, voided_at__isnull=True).first()


def standing_for_patient(patient):
    """The standing signature of all the patient's data (not a single visit's), or None."""
    return Signature.objects.filter(patient=patient, visit__isnull=True, voided_at__isnull=True).first()
