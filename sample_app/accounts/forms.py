from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser

from .models import Organization, Profile

User = get_user_model()


class SignupForm(forms.Form):
    full_name = forms.CharField(max_length=150)
    email = forms.EmailField()
    company = forms.CharField(label="Business name", max_length=120)
    industry = forms.ChoiceField(choices=Organization.Industry.choices)
    city = forms.CharField(max_length=80, required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    list_in_directory = forms.BooleanField(
        required=False, initial=True, label="List my business in the Ledgerly directory"
    )

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this email already exists. Try signing in.")
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("password"):
            candidate = User(username=cleaned.get("email", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(cleaned["password"], candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned

    def save(self) -> tuple[AbstractBaseUser, Organization]:
        data = self.cleaned_data
        first, _, last = data["full_name"].partition(" ")
        user = User.objects.create_user(
            username=data["email"],
            email=data["email"],
            password=data["password"],
            first_name=first,
            last_name=last,
        )
        organization = Organization.objects.create(
            name=data["company"],
            industry=data["industry"],
            city=data["city"],
            listed_in_directory=data["list_in_directory"],
        )
        Profile.objects.create(user=user, organization=organization, role=Profile.Role.OWNER)
        return user, organization
