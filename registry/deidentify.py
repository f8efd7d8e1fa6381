"""The de-identification rules for research views: study ID only, relative days, ages in months.

Every research representation goes through here, so the rules live in one place.
Dates become whole days since the patient's first intrathecal procedure (negative before
it; null while the patient has had none); ages are whole months at the event.
"""

# Patient fields that identify a person; never shown to accounts without identifier access.
IDENTIFIER_FIELDS = ("given_name", "family_name", "mrn", "date_of_birth", "consent_date")
# Free text that may name people; left out of research views.
FREE_TEXT_FIELDS = ("assessor",)


def days_since_procedure(value, first_procedure_date):
    """Whole days from the first procedure to `value` (a date), or None."""
    if value is None or first_procedure_date is None:
        return None
    return (value - first_procedure_date).days
