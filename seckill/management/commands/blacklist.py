from django.core.management.base import BaseCommand, CommandError

from seckill.access import blacklist
from seckill.models import BlacklistEntry
from seckill_site.errors import SeckillError


class Command(BaseCommand):
    help = "Manage the blacklists: blacklist add|remove|list user|ip VALUE [--ttl SECONDS] [--reason TEXT]"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["add", "remove", "list"])
        parser.add_argument("kind", choices=["user", "ip"], nargs="?")
        parser.add_argument("value", nargs="?", help="a user id, or an IP address or CIDR range")
        parser.add_argument("--ttl", type=int, help="seconds until the entry lapses (default: until removed)")
        parser.add_argument("--reason", default="")

    def handle(self, *args, action, kind, value, ttl, reason, **opts):
        if action == "list":
            entries = BlacklistEntry.objects.all()
            if kind:
                entries = entries.filter(kind=kind)
            for e in entries:
                expires = e.expires_at.isoformat() if e.expires_at else "never"
                self.stdout.write(f"{e.kind}\t{e.value}\texpires {expires}\t{e.reason}")
            return
        if not kind or not value:
            raise CommandError(f"blacklist {action} needs KIND and VALUE")
        if ttl is not None and ttl < 1:
            raise CommandError("--ttl must be 1 or more seconds")
        try:
            if action == "add":
                entry = blacklist.blacklist_add(kind=kind, value=value, ttl_seconds=ttl, reason=reason)
                self.stdout.write(f"added {entry.kind} {entry.value}")
            elif blacklist.blacklist_remove(kind=kind, value=value):
                self.stdout.write(f"removed {kind} {value}")
            else:
                raise CommandError(f"no {kind} {value} on the blacklist")
        except SeckillError as error:
            raise CommandError(f"{error.detail} {error.errors or ''}".strip()) from None
