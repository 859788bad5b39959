"""Create or update a reviewer login: an account allowed to approve or reject challengers in
the web UI (permission recommender.review_challengers), not a superuser."""

from __future__ import annotations

import getpass
import os
import secrets
import sys

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from recommender.management.tables import format_table

PASSWORD_ENV = "RECOMMENDER_REVIEWER_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create or update a reviewer login (may approve or reject challengers; not a superuser). "
        f"The password comes from --password, else ${PASSWORD_ENV}, else a prompt when run "
        "interactively, else a generated one that is printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="the password (visible in the shell history)")
        parser.add_argument("--email", default=None)
        parser.add_argument(
            "--no-input", action="store_true", help="never prompt: generate a password instead"
        )

    def handle(self, *args, username: str, password: str | None, email: str | None, **options):
        User = get_user_model()
        username = username.strip()
        try:
            User.username_validator(username)
            if not username:
                raise ValidationError("the username is empty")
            if email is not None:
                validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"{username!r}: {' '.join(exc.messages)}") from None

        generated = False
        if password is None:
            password = os.environ.get(PASSWORD_ENV) or None
        if password is None and not options["no_input"] and sys.stdin.isatty():
            password = self._prompt()
        if password is None:
            password, generated = secrets.token_urlsafe(15), True

        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created = user is None
            user = user or User(username=username)
            if email is not None:
                user.email = email
            try:
                password_validation.validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(f"password refused: {' '.join(exc.messages)}") from None
            user.set_password(password)
            user.is_active = True
            user.save()
            user.user_permissions.add(
                Permission.objects.get(
                    content_type__app_label="recommender", codename="review_challengers"
                )
            )

        rows = [
            ("username", username),
            ("account", "created" if created else "updated"),
            ("permission", "recommender.review_challengers"),
            ("email", user.email or "-"),
            ("password", password if generated else "as given (not shown)"),
        ]
        self.stdout.write(format_table(["reviewer", "value"], rows))
        if generated:
            self.stdout.write("The password was generated: note it now, it is not shown again.")

    def _prompt(self) -> str:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("the two passwords differ")
        if not password:
            raise CommandError("the password is empty")
        return password
