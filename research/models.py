"""What the research side stores: the log of every export."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportLog(models.Model):
    """Who exported what, when, with which filter and format."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("user")
    )
    at = models.DateTimeField(_("when"), auto_now_add=True)
    kind = models.CharField(_("export"), max_length=32)  # long, wide, dictionary, bids, plot
    file_format = models.CharField(_("format"), max_length=16)
    date_mode = models.CharField(_("dates"), max_length=16, blank=True)
    filters = models.JSONField(_("filters"), default=dict)
    rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    completed = models.BooleanField(_("completed"), default=False)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("export log")
        ordering = ["-at"]
        permissions = [
            ("view_cohort", _("Can analyse the de-identified cohort")),
            ("export_data", _("Can export de-identified cohort data")),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.kind}.{self.file_format}"
