from celery import shared_task
from django.core.mail import send_mail


@shared_task
def send_welcome(user_id):
    send_mail("Welcome", "Hello", "shop@example.com", [f"user{user_id}@example.com"])
