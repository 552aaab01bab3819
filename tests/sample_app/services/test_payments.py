from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from services import Latency, StripeService


@pytest.fixture
def payments(monkeypatch: pytest.MonkeyPatch) -> Iterator[StripeService]:
    with StripeService() as service:
        # The site configures the SDK's module-level settings, so that is what the tests use too.
        monkeypatch.setattr(stripe, "api_key", service.secret_key)
        monkeypatch.setattr(stripe, "api_base", service.url)
        monkeypatch.setattr(stripe, "max_network_retries", 0)
        yield service


def test_payment_intent_created_and_confirmed_in_one_call(payments: StripeService) -> None:
    intent = stripe.PaymentIntent.create(
        amount=2900,
        currency="USD",
        payment_method="pm_card_visa",
        payment_method_types=["card"],
        confirm=True,
        metadata={"organization": "copper-plumbing", "plan": "growth"},
    )
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.status == "succeeded"
    assert intent.amount_received == 2900
    assert intent.currency == "usd"
    assert intent.metadata["plan"] == "growth"
    assert intent.latest_charge in payments.charges
    assert [pi["id"] for pi in payments.succeeded] == [intent.id]


def test_create_then_confirm_then_retrieve(payments: StripeService) -> None:
    intent = stripe.PaymentIntent.create(amount=900, currency="eur")
    assert intent.status == "requires_payment_method"
    confirmed = stripe.PaymentIntent.confirm(intent.id, payment_method="pm_card_mastercard")
    assert confirmed.status == "succeeded"
    assert stripe.PaymentIntent.retrieve(intent.id).status == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.PaymentIntent.retrieve("pi_doesnotexist")
    assert raised.value.code == "resource_missing"


def test_declined_card_raises_card_error(payments: StripeService) -> None:
    with pytest.raises(stripe.CardError) as raised:
        stripe.PaymentIntent.create(
            amount=2900, currency="usd", payment_method="pm_card_chargeDeclined", confirm=True
        )
    assert raised.value.code == "card_declined"
    assert raised.value.http_status == 402
    assert payments.succeeded == []


def test_customers_and_charges(payments: StripeService) -> None:
    customer = stripe.Customer.create(email="amara@copper.example", name="Copper Plumbing")
    assert isinstance(customer, stripe.Customer)
    assert customer.id.startswith("cus_")
    charge = stripe.Charge.create(amount=500, currency="usd", source="tok_visa")
    assert isinstance(charge, stripe.Charge)
    assert charge.paid is True
    with pytest.raises(stripe.CardError):
        stripe.Charge.create(amount=500, currency="usd", source="tok_chargeDeclined")


def test_validation_errors(payments: StripeService) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.PaymentIntent.create(amount=10, currency="usd")
    assert raised.value.param == "amount"


def test_wrong_key_is_an_authentication_error(
    payments: StripeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stripe, "api_key", "sk_test_wrong")
    with pytest.raises(stripe.AuthenticationError):
        stripe.PaymentIntent.create(amount=2900, currency="usd")


def test_idempotency_key_replays_the_first_answer(payments: StripeService) -> None:
    first = stripe.PaymentIntent.create(amount=2900, currency="usd", idempotency_key="checkout-42")
    second = stripe.PaymentIntent.create(amount=2900, currency="usd", idempotency_key="checkout-42")
    assert first.id == second.id
    assert len(payments.payment_intents) == 1


def test_a_failing_call_is_an_api_error(payments: StripeService) -> None:
    payments.latency = Latency(fail_rate=1.0)
    with pytest.raises(stripe.APIError):
        stripe.PaymentIntent.create(amount=2900, currency="usd", payment_method="pm_card_visa", confirm=True)
    assert payments.payment_intents == {}
