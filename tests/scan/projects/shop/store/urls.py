from django.urls import path

from . import views
from .views import CheckoutView, ProfileCreate

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("checkout/", CheckoutView.as_view(), name="checkout"),
    path("contact/", views.contact, name="contact"),
    path("rates/", views.rates, name="rates"),
    path("profile/new/", ProfileCreate.as_view(), name="profile-new"),
    path("reindex/", views.reindex, name="reindex"),
]
