from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("healthz/", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("billing/", include("billing.urls")),
    path("newsletters/", include("newsletters.urls")),
    path("directory/", include("directory.urls")),
    path("reports/", include("reports.urls")),
    path("api/", include("activity.urls")),
    path("admin/", admin.site.urls),
]
