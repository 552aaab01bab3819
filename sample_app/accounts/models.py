from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.text import slugify


class Organization(models.Model):
    """A customer business: the tenant every invoice, subscriber and report belongs to."""

    class Industry(models.TextChoices):
        TRADES = "trades", "Trades and construction"
        RETAIL = "retail", "Retail"
        HOSPITALITY = "hospitality", "Hospitality"
        CREATIVE = "creative", "Creative services"
        CONSULTING = "consulting", "Consulting"
        HEALTH = "health", "Health and wellness"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    industry = models.CharField(max_length=20, choices=Industry.choices, default=Industry.CONSULTING)
    city = models.CharField(max_length=80, blank=True)
    crm_contact_id = models.CharField(max_length=32, blank=True)
    listed_in_directory = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            self.slug = self._unique_slug()
        super().save(*args, **kwargs)

    def _unique_slug(self) -> str:
        base = slugify(self.name)[:120] or "business"
        slug, n = base, 1
        while Organization.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        return slug


class Profile(models.Model):
    """A person's seat in an organization."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ACCOUNTANT = "accountant", "Accountant"
        MEMBER = "member", "Member"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OWNER)

    def __str__(self) -> str:
        return f"{self.user} at {self.organization}"
