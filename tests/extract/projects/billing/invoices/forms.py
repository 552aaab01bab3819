from __future__ import annotations

from django import forms

from invoices.models import Customer


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["email"]
