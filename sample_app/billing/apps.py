from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        import stripe
        from django.conf import settings

        from . import signals  # noqa: F401 - connects the receivers

        stripe.api_key = settings.STRIPE_SECRET_KEY
        stripe.api_base = settings.STRIPE_API_BASE
        stripe.max_network_retries = 1
