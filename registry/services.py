"""Writes to clinical records: validated, versioned, atomic, with history of who changed what."""

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _


class EditConflict(Exception):
    """The record changed since the editor loaded it (their version is stale)."""

    def __init__(self, instance, expected_version):
        self.instance = instance
        self.expected_version = expected_version
        self.current_version = instance.version
        changed_by = instance.history.first().history_user if hasattr(instance, "history") else None
        who = changed_by.get_username() if changed_by else _("someone else")
        super().__init__(
            _(
                "This record was changed by %(who)s after you opened it (you edited version "
                "%(expected)s, it is now version %(current)s). Reload it, check their changes "
                "and enter yours again."
            )
            % {"who": who, "expected": expected_version, "current": instance.version}
        )


class RecordInUse(Exception):
    """Deleting the record would orphan other clinical records."""


class RecordBusy(Exception):
    """The record is being worked on (e.g. a scan in processing) and cannot take this change now."""


class RecordLocked(Exception):
    """The record is covered by an investigator's standing signature: nothing may change it until a
    registry-admin unlocks it (answered as 423, saying who signed and when)."""

    def __init__(self, signature):
        from django.utils import timezone

        self.signature = signature
        super().__init__(
            _(
                "This record is locked: %(subject)s was signed by %(who)s on %(when)s. "
                "A registry-admin can unlock it, giving a reason."
            )
            % {
                "subject": signature.subject,
                "who": signature.signer_name,
                "when": timezone.localtime(signature.signed_at).strftime("%Y-%m-%d %H:%M"),
            }
        )


def refuse_if_locked(instance):
    """Raise RecordLocked if a standing signature covers `instance` (as stored or as about to be saved)."""
    from registry.signoff import standing_signature

    signature = standing_signature(instance)
    if signature is not None:
        raise RecordLocked(signature)


def _after_commit_check_quality(instance):
    """Run the data-quality rules for the record's patient once the write is committed."""
    from registry import quality

    quality.check_after_commit(instance)


class ServiceUnavailable(Exception):
    """Something the registry relies on (file storage, ...) failed; nothing was stored. The message
    says so to people, who may try again later (answered as 503)."""


def _save(instance, actor):
    refuse_if_locked(instance)
    instance.full_clean()
    instance._history_user = actor
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as error:
        # A race past full_clean (e.g. two simultaneous inserts of one study ID):
        # the database constraint held; report it as a validation error.
        raise ValidationError(
            _(
                "The record conflicts with one stored meanwhile (for example the same study ID saved "
                "twice at once); reload the page and check."
            )
        ) from error
    _after_commit_check_quality(instance)
    return instance


def record_create(model, actor, **fields):
    """Create a clinical record of `model` after full validation; nothing is stored if invalid."""
    instance = model(**fields)
    return _save(instance, actor)


VERSION_DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)


def parse_version(raw):
    """The version a client says it edited, as an int: a JSON integer or a string of ASCII digits.

    Booleans, floats (`1.0`, `1e400`) and other scripts' digits are refused rather than read as a
    number the client may not have meant; ValidationError names the `version` field."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 10**18:
        return raw
    if isinstance(raw, str) and VERSION_DIGITS.fullmatch(raw.strip()):
        return int(raw.strip())
    raise ValidationError(
        {"version": [_("The version must be a whole number written in digits 0-9, as the record showed it.")]}
    )


@transaction.atomic
def record_update(instance, actor, expected_version, **fields):
    """Change fields of a record that the editor saw at `expected_version`.

    Raises EditConflict if someone saved it since; ValidationError if the result is invalid.
    """
    current = type(instance).objects.select_for_update().get(pk=instance.pk)
    if expected_version is None or parse_version(expected_version) != current.version:
        raise EditConflict(current, expected_version)
    refuse_if_locked(current)
    for name, value in fields.items():
        setattr(current, name, value)
    current.version += 1
    _save(current, actor)
    return current


@transaction.atomic
def record_delete(instance, actor, expected_version):
    """Delete a record the deleter saw at `expected_version`; refuse if others depend on it."""
    current = type(instance).objects.select_for_update().get(pk=instance.pk)
    if expected_version is None or parse_version(expected_version) != current.version:
        raise EditConflict(current, expected_version)
    refuse_if_locked(current)
    _after_commit_check_quality(current)
    current._history_user = actor
    try:
        with transaction.atomic():
            current.delete()
    except ProtectedError as error:
        kinds = sorted({str(obj._meta.verbose_name_plural) for obj in error.protected_objects})
        raise RecordInUse(
            _("This record cannot be deleted while %(kinds)s refer to it; delete or move those first.")
            % {"kinds": ", ".join(kinds)}
        ) from error


class AssessmentRefused(Exception):
    """Some entries of a visit's assessments were refused; nothing was stored. ``errors``: {row key: [messages]}."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(message for messages in errors.values() for message in messages))


@transaction.atomic
def visit_assessments_save(*, visit, actor, entries, assessor=""):
    """Store a visit's assessments at once: each entry (row, value, missing, version it was opened on)
    creates, changes or (value and reason both cleared) deletes its score, each with history and version
    checks; if any entry is refused, none is stored (AssessmentRefused names each refused row).
    Returns the number of scores created, changed or deleted."""
    from registry.models import Score

    errors, changed = {}, 0
    for row, value, missing, version in entries:
        score = row.score
        try:
            with transaction.atomic():
                if score is None:
                    if value is None and not missing:
                        continue
                    record_create(
                        Score,
                        actor,
                        visit=visit,
                        instrument=row.instrument,
                        muscle=row.muscle,
                        side=row.side,
                        value=value,
                        missing=missing,
                        assessor=assessor,
                    )
                elif value is None and not missing:
                    record_delete(score, actor, version)
                elif (score.value, score.missing, score.assessor) != (value, missing, assessor or score.assessor):
                    record_update(
                        score, actor, version, value=value, missing=missing, assessor=assessor or score.assessor
                    )
                else:
                    continue
        except (ValidationError, EditConflict, RecordInUse) as refusal:
            errors[row.key] = refusal.messages if isinstance(refusal, ValidationError) else [str(refusal)]
        else:
            changed += 1
    if errors:
        raise AssessmentRefused(errors)
    return changed


@transaction.atomic
def visit_create_with_assessments(*, patient, actor, visit_fields, entries, assessor=""):
    """Create a visit and its assessments at once (visit_assessments_save); nothing is stored if either
    is refused (ValidationError for the visit, AssessmentRefused for its assessments)."""
    from registry.models import Visit

    visit = record_create(Visit, actor, patient=patient, **visit_fields)
    visit_assessments_save(visit=visit, actor=actor, entries=entries, assessor=assessor)
    return visit
