import stripe
from algoliasearch.search_client import SearchClient
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from store.models import Order

algolia = SearchClient.create("APPID", "key")


class OrderViewSet(viewsets.ModelViewSet):
    queryset = Order.objects.all()

    def perform_create(self, serializer):
        order = serializer.save()
        stripe.PaymentIntent.create(amount=order.total, currency="usd")  # scan: keep_sync

    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        algolia.init_index("orders").save_object({"objectID": pk})  # scan: defer
        return Response({"ok": True})
