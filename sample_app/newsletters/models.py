from __future__ import annotations

import uuid

from django.db import models
from django.urls import reverse

from accounts.models import Organization


class Subscriber(models.Model):
    """One of our customer's own customers, who agreed to hear from them."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="subscribers")
    email = models.EmailField()
    name = models.CharField(max_length=120, blank=True)
    is_active = models.BooleanField(default=True)
    unsubscribe_token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="unique_subscriber_email")
        ]
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class Campaign(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="campaigns")
    subject = models.CharField(max_length=150)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.subject

    def get_absolute_url(self) -> str:
        return reverse("newsletters:campaign-detail", args=[self.pk])

    @property
    def is_sent(self) -> bool:
        return self.sent_at is not None
