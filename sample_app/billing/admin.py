from django.contrib import admin

from .models import Customer, Invoice, Payment, Plan, Subscription


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "price_cents", "currency", "is_public"]


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ["organization", "plan", "current_period_end"]


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["organization", "plan", "amount_cents", "currency", "created_at"]
    search_fields = ["stripe_payment_intent"]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "organization", "customer", "amount_cents", "status", "due_on"]
    list_filter = ["status"]


admin.site.register(Customer)
