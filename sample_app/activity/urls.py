from django.urls import path

from . import views

app_name = "activity"

urlpatterns = [
    path("events/", views.EventView.as_view(), name="events"),
]
