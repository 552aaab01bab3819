from django.core.mail import mail_admins
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    def handle(self, *args, **options):
        mail_admins("Nightly", "done")
