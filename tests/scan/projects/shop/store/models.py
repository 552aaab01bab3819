import urllib.request

from django.db import models


def _notify_warehouse(order_id):
    urllib.request.urlopen(f"https://warehouse.example.com/orders/{order_id}")  # scan: defer no_timeout


class Order(models.Model):
    total = models.IntegerField(default=0)

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        _notify_warehouse(self.pk)


class Profile(models.Model):
    name = models.CharField(max_length=50)
