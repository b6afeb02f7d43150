import csv
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from rest_framework_simplejwt.tokens import AccessToken

from seckill.access.blacklist import user_activity_publish

BATCH = 1000


class Command(BaseCommand):
    help = (
        "Create (or reuse) COUNT active buyer accounts fast and write CSV user_id,username,token "
        "with a valid access token for each."
    )

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--prefix", default="buyer")
        parser.add_argument("--output", help="CSV file (default: standard output)")

    def handle(self, *args, count: int, prefix: str, output: str | None, **opts):
        if count < 0:
            raise CommandError("COUNT must be 0 or more")
        User = get_user_model()
        usernames = [f"{prefix}{i:06d}" for i in range(1, count + 1)]
        existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
        # No password hashing per user: buyers get an unusable password and log in with the token written here.
        unusable = make_password(None)
        User.objects.bulk_create(
            [User(username=name, password=unusable, is_active=True) for name in usernames if name not in existing],
            batch_size=BATCH,
        )
        reactivated = list(User.objects.filter(username__in=usernames, is_active=False).values_list("pk", flat=True))
        User.objects.filter(pk__in=reactivated).update(is_active=True)
        for user_id in reactivated:  # .update() sends no signal: tell the access layer ourselves
            user_activity_publish(user_id=user_id, active=True)
        users = User.objects.filter(username__in=usernames).order_by("username")

        stream = open(output, "w", newline="") if output else sys.stdout
        try:
            writer = csv.writer(stream)
            writer.writerow(["user_id", "username", "token"])
            for user in users.iterator(chunk_size=BATCH):
                writer.writerow([user.pk, user.username, str(AccessToken.for_user(user))])
        finally:
            if output:
                stream.close()
        if output:
            self.stderr.write(f"{count} buyers ({count - len(existing)} new) written to {output}")
