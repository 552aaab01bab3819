from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Count

from accounts.models import Organization

from .models import Customer, Invoice, Plan

TEST_CARDS = [
    ("pm_card_visa", "Visa ending 4242"),
    ("pm_card_mastercard", "Mastercard ending 4444"),
    ("pm_card_chargeDeclined", "Visa ending 0002"),
]


class CheckoutForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.filter(is_public=True), empty_label=None)
    # Stripe Elements turns the card into a PaymentMethod id in the browser; we only ever see the id.
    payment_method = forms.CharField(max_length=64, widget=forms.Select(choices=TEST_CARDS))


class InvoiceForm(forms.Form):
    customer_name = forms.CharField(max_length=120)
    customer_email = forms.EmailField()
    description = forms.CharField(max_length=200)
    amount = forms.DecimalField(min_value=Decimal("1.00"), max_digits=10, decimal_places=2)
    currency = forms.ChoiceField(choices=[("usd", "USD"), ("eur", "EUR"), ("gbp", "GBP")])
    due_in_days = forms.TypedChoiceField(
        choices=[(7, "7 days"), (14, "14 days"), (30, "30 days")], coerce=int, initial=14
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def save(self) -> Invoice:
        data = self.cleaned_data
        customer, _ = Customer.objects.get_or_create(
            organization=self.organization,
            email=data["customer_email"].lower(),
            defaults={"name": data["customer_name"]},
        )
        issued = self.organization.invoices.aggregate(n=Count("id"))["n"]
        return Invoice.objects.create(
            organization=self.organization,
            customer=customer,
            number=f"INV-{self.organization.pk:04d}-{issued + 1:04d}",
            description=data["description"],
            amount_cents=int(data["amount"] * 100),
            currency=data["currency"],
            due_on=datetime.date.today() + datetime.timedelta(days=data["due_in_days"]),
        )
