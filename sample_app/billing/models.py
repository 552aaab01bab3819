from __future__ import annotations

import datetime

from django.db import models
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization


class Plan(models.Model):
    """What we sell: a monthly subscription to Ledgerly."""

    code = models.SlugField(unique=True)
    name = models.CharField(max_length=60)
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    invoice_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Invoices a month; empty: no limit"
    )
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["price_cents"]

    def __str__(self) -> str:
        return f"{self.name} (${self.price:.0f}/mo)"

    @property
    def price(self) -> float:
        return self.price_cents / 100


class Subscription(models.Model):
    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="subscription")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT)
    current_period_end = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.organization} on {self.plan}"


class Payment(models.Model):
    """A successful charge for a plan, as Stripe confirmed it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="payments")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    stripe_payment_intent = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.amount_cents / 100:.2f} {self.currency.upper()} from {self.organization}"


class Customer(models.Model):
    """Someone our customers invoice."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="customers")
    name = models.CharField(max_length=120)
    email = models.EmailField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "email"], name="unique_customer_email")
        ]

    def __str__(self) -> str:
        return self.name


class Invoice(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=32)
    description = models.CharField(max_length=200)
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    issued_on = models.DateField(default=datetime.date.today)
    due_on = models.DateField()
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_on", "-id"]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("billing:invoice-detail", args=[self.pk])

    @property
    def amount(self) -> float:
        return self.amount_cents / 100

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_on < timezone.localdate()
