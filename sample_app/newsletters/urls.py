from django.urls import path

from . import views

app_name = "newsletters"

urlpatterns = [
    path("", views.campaign_list, name="campaign-list"),
    path("subscribers/import/", views.subscriber_import, name="subscriber-import"),
    path("new/", views.campaign_create, name="campaign-create"),
    path("<int:pk>/", views.campaign_detail, name="campaign-detail"),
    path("<int:pk>/send/", views.campaign_send, name="campaign-send"),
    path("unsubscribe/<uuid:token>/", views.unsubscribe, name="unsubscribe"),
]
