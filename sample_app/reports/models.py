from __future__ import annotations

from django.db import models

from accounts.models import Organization


class ReportExport(models.Model):
    """A generated report, kept so it can be downloaded again."""

    class Kind(models.TextChoices):
        REVENUE_FORECAST = "revenue_forecast", "12-month revenue forecast"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="report_exports")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    content = models.TextField()
    rows = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.organization}"
