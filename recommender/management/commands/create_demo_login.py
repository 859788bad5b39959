import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import BaseCommand, CommandError

from recommender.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Create (or reset) the 'demo' reviewer login (also admin) with a fresh random password "
        "and print it. DEBUG only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username, **options):
        if not settings.DEBUG:
            raise CommandError("create_demo_login is for the local demo only (DEBUG=1)")
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True  # superusers hold every permission, review too
        user.set_password(password)
        user.save()
        pending = ModelVersion.objects.filter(status=ModelVersion.Status.PENDING_REVIEW).count()
        self.stdout.write(
            f"Demo reviewer: user {username!r}, password {password!r}\n"
            f"Log in at {settings.SITE_URL}/login/ ; {pending} challenger(s) await your review."
        )
