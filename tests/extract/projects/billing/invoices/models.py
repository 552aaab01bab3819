from __future__ import annotations

import uuid

from django.db import models


class Customer(models.Model):
    email = models.EmailField()

    def __str__(self) -> str:
        return self.email


class Invoice(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    total = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self) -> str:
        return str(self.id)
