from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.export_list, name="export-list"),
    path("exports/", views.export_create, name="export-create"),
    path("exports/<int:pk>.csv", views.export_download, name="export-download"),
]
