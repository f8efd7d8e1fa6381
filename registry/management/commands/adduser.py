"""Create a staff account with one role: `manage.py adduser NAME --role ROLE [--password P]`."""

import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.roles import REGISTRY_ADMIN, ROLES


class Command(BaseCommand):
    help = "Create an account with a role (hematology, radiology, research, registry-admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLES))
        parser.add_argument("--password", help="Omit to be prompted (keeps it out of shell history).")
        parser.add_argument("--email", default="")
        parser.add_argument("--update", action="store_true", help="Reset the role and password of an existing account.")

    def handle(self, username, role, password, email, update, **options):
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        if existing and not update:
            raise CommandError(f"An account named {username!r} already exists (use --update to reset it).")
        if password is None:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ.")
        user = existing or User(username=username, email=email)
        try:
            validate_password(password, user)
        except ValidationError as error:
            raise CommandError("Password refused: " + " ".join(error.messages)) from None
        with transaction.atomic():
            user.set_password(password)
            user.is_staff = role == REGISTRY_ADMIN
            user.save()
            user.groups.set([Group.objects.get(name=role)])
        self.stdout.write(self.style.SUCCESS(f"{'Updated' if existing else 'Created'} {username} with role {role}."))
