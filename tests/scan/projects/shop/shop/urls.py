from api.views import OrderViewSet
from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter
from store import views

router = DefaultRouter()
router.register(r"orders", OrderViewSet, basename="order")

urlpatterns = [
    path("", include("store.urls")),
    path("api/", include(router.urls)),
    re_path(r"^legacy/(?P<slug>[-\w]+)/$", views.legacy, name="legacy"),
]
