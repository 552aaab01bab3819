from __future__ import annotations

from django.urls import include, path, re_path

from tests.site import views

urlpatterns = [
    path("hello/", views.hello, name="hello"),
    path("notes/<int:pk>/", views.notes, name="notes"),
    path("slow-sql/", views.slow_sql),
    path("tracked/", views.tracked),
    path("atomic/", views.atomic_block),
    path("boom/", views.boom),
    path("async/", views.async_view),
    re_path(r"^legacy/(?P<slug>[-\w]+)/$", views.hello),
]

# Outbound HTTP, one client library per view.
urlpatterns.append(path("http/", include("tests.site.http_views")))

# Email and task enqueues.
urlpatterns.append(path("mail-tasks/", include("tests.site.mail_task_views")))

# Secrets everywhere a request carries them, for the privacy tests.
urlpatterns.append(path("privacy/", include("tests.site.privacy_views")))

urlpatterns.append(path("", views.hello, name="home"))
