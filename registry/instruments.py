"""The clinical instruments every registry starts with (registry-admins add more)."""

from decimal import Decimal

INSTRUMENTS = [
    # code, name, min, max, higher_is_better, unit, integer_only, value_labels
    ("GMFM-88", "Gross Motor Function Measure-88 (total %)", 0, 100, True, "%", False, {}),
    ("GMFM-66", "Gross Motor Function Measure-66 (interval score)", 0, 100, True, "", False, {}),
    ("GMFCS", "Gross Motor Function Classification System (level)", 1, 5, False, "", True, {}),
    (
        "MAS",
        "Modified Ashworth Scale",
        0,
        4,
        False,
        "",
        False,
        {"0": "0", "1": "1", "1.5": "1+", "2": "2", "3": "3", "4": "4"},
    ),
    ("MACS", "Manual Ability Classification System (level)", 1, 5, False, "", True, {}),
    ("CFCS", "Communication Function Classification System (level)", 1, 5, False, "", True, {}),
]


def seed_instruments(apps):
    """Create or refresh the standard instruments (idempotent; used by a data migration)."""
    Instrument = apps.get_model("registry", "Instrument")
    for code, name, low, high, higher_better, unit, integer_only, labels in INSTRUMENTS:
        Instrument.objects.update_or_create(
            code=code,
            defaults=dict(
                name=name,
                min_value=Decimal(low),
                max_value=Decimal(high),
                higher_is_better=higher_better,
                unit=unit,
                integer_only=integer_only,
                value_labels=labels,
            ),
        )
