from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.tenancy import current_organization

from .forms import CampaignForm, SubscriberImportForm
from .models import Campaign, Subscriber
from .sending import send_campaign


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    organization = current_organization(request)
    return render(
        request,
        "newsletters/campaign_list.html",
        {
            "campaigns": organization.campaigns.all()[:20],
            "subscriber_count": organization.subscribers.filter(is_active=True).count(),
            "import_form": SubscriberImportForm(),
        },
    )


@login_required
@require_POST
def subscriber_import(request: HttpRequest) -> HttpResponse:
    organization = current_organization(request)
    form = SubscriberImportForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("addresses", []):
            messages.error(request, error)
        return redirect("newsletters:campaign-list")
    created = 0
    for email, name in form.cleaned_data["addresses"]:
        _, was_created = Subscriber.objects.get_or_create(
            organization=organization, email=email, defaults={"name": name}
        )
        created += was_created
    messages.success(request, f"Imported {created} new subscribers.")
    return redirect("newsletters:campaign-list")


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        campaign = form.save(commit=False)
        campaign.organization = current_organization(request)
        campaign.save()
        return redirect(campaign)
    return render(request, "newsletters/campaign_form.html", {"form": form})


@login_required
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk, organization=current_organization(request))
    return render(request, "newsletters/campaign_detail.html", {"campaign": campaign})


@login_required
@require_POST
def campaign_send(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=pk, organization=current_organization(request))
    if campaign.is_sent:
        messages.info(request, "This campaign has already gone out.")
        return redirect(campaign)
    sent, failed = send_campaign(campaign, base_url=request.build_absolute_uri("/"))
    if failed:
        messages.warning(request, f"Sent to {sent} subscribers; {failed} could not be reached.")
    else:
        messages.success(request, f"Sent to {sent} subscribers.")
    return redirect(campaign)


def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    subscriber = get_object_or_404(Subscriber, unsubscribe_token=token)
    if request.method == "POST":
        subscriber.is_active = False
        subscriber.save(update_fields=["is_active"])
        return render(request, "newsletters/unsubscribed.html", {"subscriber": subscriber})
    return render(request, "newsletters/unsubscribe.html", {"subscriber": subscriber})
