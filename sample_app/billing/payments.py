"""Charging our customers with Stripe."""

from __future__ import annotations

import stripe

from accounts.models import Organization

from .models import Plan


def charge_for_plan(
    *, organization: Organization, plan: Plan, payment_method: str, email: str
) -> stripe.PaymentIntent:
    """Charge one month of ``plan``; raises ``stripe.CardError`` when the card is declined."""
    return stripe.PaymentIntent.create(  # audit: checkout-stripe-charge
        amount=plan.price_cents,
        currency=plan.currency,
        payment_method=payment_method,
        payment_method_types=["card"],
        confirm=True,
        description=f"Ledgerly {plan.name}, one month",
        receipt_email=email,
        metadata={"organization": organization.slug, "plan": plan.code},
    )
