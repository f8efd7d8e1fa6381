"""Create a staff account with one role and its sites:
`manage.py adduser NAME --role ROLE [--site CODE ...] [--password P]`."""

import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from registry.models import Site, SiteMembership
from registry.roles import REGISTRY_ADMIN, ROLES, SITE_ROLES


class Command(BaseCommand):
    help = "Create an account with a role (hematology, radiology, research, registry-admin)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLES))
        parser.add_argument("--password", help="Omit to be prompted (keeps it out of shell history).")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--site",
            action="append",
            dest="sites",
            metavar="CODE",
            help="A site (centre) the account belongs to; repeat for several. Hematology, hematology-lead and "
            "radiology accounts see only their sites' patients; may be omitted while the registry has one site.",
        )
        parser.add_argument("--update", action="store_true", help="Reset the role and password of an existing account.")

    def handle(self, username, role, password, email, update, sites=None, **options):
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        if existing and not update:
            raise CommandError(f"An account named {username!r} already exists (use --update to reset it).")
        site_list = self.sites_for(role, sites, existing)
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
            if site_list is not None:
                SiteMembership.objects.filter(user=user).exclude(site__in=site_list).delete()
                for site in site_list:
                    SiteMembership.objects.get_or_create(user=user, site=site)
        codes = ", ".join(site.code for site in site_list or [])
        where = f" at {codes}" if codes else ""
        self.stdout.write(
            self.style.SUCCESS(f"{'Updated' if existing else 'Created'} {username} with role {role}{where}.")
        )

    def sites_for(self, role, codes, existing):
        """The sites named by --site (None when none is named and none is needed: memberships are left as they are)."""
        if codes:
            found = {site.code: site for site in Site.objects.filter(code__in=codes)}
            unknown = [code for code in codes if code not in found]
            if unknown:
                known = ", ".join(Site.objects.values_list("code", flat=True)) or "none yet"
                raise CommandError(f"No site with code {', '.join(map(repr, unknown))}; the sites are: {known}.")
            return [found[code] for code in dict.fromkeys(codes)]
        if role not in SITE_ROLES or (existing and existing.site_memberships.exists()):
            return None
        only = list(Site.objects.all()[:2])
        if len(only) == 1:
            return only  # a single-centre registry: its one site
        raise CommandError(
            f"Say which site the {role} account belongs to with --site CODE (repeat it for several); "
            f"the sites are: {', '.join(Site.objects.values_list('code', flat=True)) or 'none yet'}."
        )
