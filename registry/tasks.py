"""Background tasks of the registry: the nightly run of the data-quality rules (celery beat)."""

from celery import shared_task

from registry import quality


@shared_task(name="registry.tasks.run_quality_rules")
def run_quality_rules():
    """Every rule over every patient: queries opened, re-opened and closed (counts)."""
    return quality.check_all()
