"""A Stripe-like payment API: enough of ``/v1`` for the official SDK's PaymentIntent, Customer and Charge.

Requests are form-encoded (``metadata[plan]=pro``) and answers are the JSON objects the SDK parses into
``stripe.PaymentIntent`` and friends. Stripe's test payment methods decide the outcome:
``pm_card_visa`` succeeds, ``pm_card_chargeDeclined`` is declined with a 402 ``card_error``.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any, ClassVar

from .http import HTTPService, Request, Response
from .latency import NONE, Latency

DECLINED_METHODS = {
    "pm_card_chargeDeclined",
    "pm_card_visa_chargeDeclined",
    "pm_card_chargeDeclinedFraudulent",
}
_NESTED = re.compile(r"^(?P<outer>\w+)\[(?P<inner>[^\]]*)\]$")


def _token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _error(status: int, type_: str, message: str, **extra: Any) -> Response:
    return Response(
        status,
        {"error": {"type": type_, "message": message, **extra}},
        headers={"Request-Id": _token("req")},
    )


def _params(request: Request) -> dict[str, Any]:
    """Decode Stripe's form encoding, one level of nesting (``metadata[key]``) being all we need."""
    params: dict[str, Any] = {}
    for key, value in request.form().items():
        match = _NESTED.match(key)
        if match:
            params.setdefault(match["outer"], {})[match["inner"]] = value
        else:
            params[key] = value
    return params


class StripeService(HTTPService):
    """Keeps the objects it creates; replays the first answer to a reused Idempotency-Key, as Stripe does."""

    name = "stripe"
    routes: ClassVar[list[tuple[str, str, str]]] = [
        ("POST", r"/v1/payment_intents", "create_payment_intent"),
        ("GET", r"/v1/payment_intents/(?P<id>pi_\w+)", "get_payment_intent"),
        ("POST", r"/v1/payment_intents/(?P<id>pi_\w+)/confirm", "confirm_payment_intent"),
        ("POST", r"/v1/customers", "create_customer"),
        ("POST", r"/v1/charges", "create_charge"),
    ]

    def __init__(
        self, latency: Latency = NONE, *, seed: int = 0, secret_key: str = "sk_test_ledgerly_local"
    ) -> None:
        super().__init__(latency, seed=seed)
        self.secret_key = secret_key
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self._replays: dict[str, Response] = {}

    def response_headers(self) -> dict[str, str]:
        return {"Stripe-Version": "2025-01-27.acacia"}

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        return None

    def failure(self, request: Request) -> Response:
        return _error(500, "api_error", "An unknown error occurred while processing the request.")

    def handle(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key:
            with self._lock:
                replay = self._replays.get(key)
            if replay is not None:
                return replay
        response = super().handle(request)
        if request.method == "POST" and key and response.status < 500:
            with self._lock:
                self._replays[key] = response
        response.headers.setdefault("Request-Id", _token("req"))
        return response

    @property
    def succeeded(self) -> list[dict[str, Any]]:
        with self._lock:
            return [pi for pi in self.payment_intents.values() if pi["status"] == "succeeded"]

    # PaymentIntents

    def create_payment_intent(self, request: Request) -> Response:
        params = _params(request)
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            return _error(400, "invalid_request_error", "Missing required param: amount.", param="amount")
        if amount < 50:
            return _error(400, "invalid_request_error", "Amount must be at least 50 cents.", param="amount")
        if not params.get("currency"):
            return _error(400, "invalid_request_error", "Missing required param: currency.", param="currency")
        intent = {
            "id": _token("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": "automatic",
            "client_secret": None,
            "confirmation_method": "automatic",
            "created": int(time.time()),
            "currency": params["currency"].lower(),
            "customer": params.get("customer"),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "payment_method": params.get("payment_method"),
            "payment_method_types": ["card"],
            "receipt_email": params.get("receipt_email"),
            "status": "requires_payment_method"
            if not params.get("payment_method")
            else "requires_confirmation",
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        with self._lock:
            self.payment_intents[intent["id"]] = intent
        if params.get("confirm") == "true":
            return self._confirm(intent, params)
        return Response(200, intent)

    def get_payment_intent(self, request: Request) -> Response:
        with self._lock:
            intent = self.payment_intents.get(request.params["id"])
        if intent is None:
            return self._missing("payment_intent", request.params["id"])
        return Response(200, intent)

    def confirm_payment_intent(self, request: Request) -> Response:
        with self._lock:
            intent = self.payment_intents.get(request.params["id"])
        if intent is None:
            return self._missing("payment_intent", request.params["id"])
        return self._confirm(intent, _params(request))

    def _confirm(self, intent: dict[str, Any], params: dict[str, Any]) -> Response:
        method = params.get("payment_method") or intent["payment_method"]
        if not method:
            return _error(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent without a payment method.",
            )
        if intent["status"] == "succeeded":
            return _error(
                400,
                "invalid_request_error",
                "This PaymentIntent has already succeeded.",
                code="payment_intent_unexpected_state",
            )
        charge = self._charge(intent["amount"], intent["currency"], method, intent["id"])
        with self._lock:
            intent["payment_method"] = method
            intent["latest_charge"] = charge["id"]
            if charge["status"] == "failed":
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = {"type": "card_error", "code": "card_declined"}
            else:
                intent["status"] = "succeeded"
                intent["amount_received"] = intent["amount"]
        if charge["status"] == "failed":
            return _error(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code="generic_decline",
                charge=charge["id"],
                payment_intent=intent,
            )
        return Response(200, intent)

    # Customers and charges

    def create_customer(self, request: Request) -> Response:
        params = _params(request)
        customer = {
            "id": _token("cus"),
            "object": "customer",
            "created": int(time.time()),
            "email": params.get("email"),
            "name": params.get("name"),
            "description": params.get("description"),
            "livemode": False,
            "metadata": params.get("metadata", {}),
        }
        with self._lock:
            self.customers[customer["id"]] = customer
        return Response(200, customer)

    def create_charge(self, request: Request) -> Response:
        params = _params(request)
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            return _error(400, "invalid_request_error", "Missing required param: amount.", param="amount")
        charge = self._charge(amount, params.get("currency", "usd"), params.get("source") or "tok_visa", None)
        if charge["status"] == "failed":
            return _error(
                402, "card_error", "Your card was declined.", code="card_declined", charge=charge["id"]
            )
        return Response(200, charge)

    def _charge(self, amount: int, currency: str, method: str, intent_id: str | None) -> dict[str, Any]:
        declined = method in DECLINED_METHODS or method == "tok_chargeDeclined"
        charge: dict[str, Any] = {
            "id": _token("ch"),
            "object": "charge",
            "amount": amount,
            "amount_captured": 0 if declined else amount,
            "captured": not declined,
            "created": int(time.time()),
            "currency": currency.lower(),
            "failure_code": "card_declined" if declined else None,
            "livemode": False,
            "paid": not declined,
            "payment_intent": intent_id,
            "payment_method": method,
            "status": "failed" if declined else "succeeded",
        }
        with self._lock:
            self.charges[charge["id"]] = charge
        return charge

    def _missing(self, kind: str, object_id: str) -> Response:
        return _error(
            404,
            "invalid_request_error",
            f"No such {kind}: '{object_id}'",
            code="resource_missing",
            param="id",
        )
