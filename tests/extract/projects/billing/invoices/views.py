from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.generic import DetailView

from invoices import services
from invoices.forms import CustomerForm
from invoices.models import Invoice

WEBHOOK_EVENT = "customer.created"


def create_customer(request: HttpRequest) -> HttpResponse:
    form = CustomerForm(request.POST)
    if form.is_valid():
        customer = form.save()
        timeout = 5.0
        services.post_webhook(customer, WEBHOOK_EVENT, timeout=timeout)  # the webhook
        services.post_webhook(customer, form.cleaned_data["email"])  # the second webhook
        return redirect("/customers/")
    return HttpResponse(status=400)


def pay(request: HttpRequest, invoice_id: str) -> HttpResponse:
    invoice = get_object_or_404(Invoice, pk=invoice_id)
    locale = request.LANGUAGE_CODE
    services.render_pdf(invoice, locale=locale)  # the PDF
    if services.post_webhook(invoice.customer, "invoice.paid"):  # the checked webhook
        pass
    services.send_receipt(invoice)  # the receipt
    return JsonResponse({"paid": True})


def audit(request: HttpRequest) -> HttpResponse:
    services.post_webhook(request, "audit")  # the request itself
    return HttpResponse()


class InvoiceView(DetailView):  # type: ignore[type-arg]
    model = Invoice

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        self.object = self.get_object()
        services.render_pdf(self.object, locale="fr")  # the detail PDF
        return HttpResponse()
