import boto3
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from slack_sdk import WebClient

from .models import Order

slack = WebClient(token="xoxb-fixture")


@receiver(post_save, sender=Order)
def announce_order(sender, instance, created, **kwargs):
    if created:
        slack.chat_postMessage(channel="#sales", text=f"Order {instance.pk}")  # scan: defer


def archive_order(sender, instance, **kwargs):
    s3 = boto3.client("s3")
    s3.upload_file("/tmp/order.json", "archive", f"orders/{instance.pk}.json")  # scan: defer batch


post_delete.connect(archive_order, sender=Order)
