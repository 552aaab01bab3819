from django import forms
from twilio.rest import Client

from .models import Profile
from .search import index_profile


class ContactForm(forms.Form):
    phone = forms.CharField()

    def save(self):
        client = Client("sid", "token")
        client.messages.create(  # scan: defer no_timeout
            to=self.cleaned_data["phone"], from_="+15550100", body="Thanks!"
        )


class ProfileForm(forms.ModelForm):
    class Meta:
        model = Profile
        fields = ["name"]

    def save(self, commit=True):
        profile = super().save(commit=commit)
        index_profile(profile)
        return profile
