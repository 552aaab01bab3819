from __future__ import annotations

from django import forms
from django.core.validators import validate_email

from .models import Campaign


class SubscriberImportForm(forms.Form):
    addresses = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One per line: an email address, optionally followed by a comma and a name.",
    )

    def clean_addresses(self) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []
        for number, line in enumerate(self.cleaned_data["addresses"].splitlines(), start=1):
            if not line.strip():
                continue
            email, _, name = (part.strip() for part in line.partition(","))
            try:
                validate_email(email)
            except forms.ValidationError:
                raise forms.ValidationError(f"Line {number}: {email!r} is not an email address.") from None
            rows.append((email.lower(), name))
        if not rows:
            raise forms.ValidationError("Paste at least one address.")
        return rows


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 12})}
