import json
from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from seckill.catalogue import services as catalogue_services
from seckill.catalogue.api import ProductOutputSerializer
from seckill_site.errors import SeckillError


def _moment(value: str | None, option: str):
    if value is None:
        return None
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"{option}: not an ISO 8601 date-time: {value!r}")
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.utc)


class Command(BaseCommand):
    help = "Create a flash-sale product (default window: from now for one hour) and print it as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--stock", type=int, required=True)
        parser.add_argument("--price", default="0")
        parser.add_argument("--per-user-limit", type=int, default=1)
        parser.add_argument("--starts", help="ISO 8601 start (default: now)")
        parser.add_argument("--ends", help="ISO 8601 end (default: one hour after the start)")
        parser.add_argument("--disabled", action="store_true")

    def handle(self, *args, **opts):
        if opts["stock"] < 0:
            raise CommandError("--stock must be 0 or more")
        if opts["per_user_limit"] < 1:
            raise CommandError("--per-user-limit must be 1 or more")
        try:
            price = Decimal(opts["price"])
        except InvalidOperation:
            raise CommandError(f"--price: not a number: {opts['price']!r}") from None
        try:
            product = catalogue_services.product_create(
                name=opts["name"],
                stock_total=opts["stock"],
                price=price,
                per_user_limit=opts["per_user_limit"],
                start_time=_moment(opts["starts"], "--starts"),
                end_time=_moment(opts["ends"], "--ends"),
                is_enabled=not opts["disabled"],
            )
        except SeckillError as error:
            raise CommandError(f"{error.detail} {error.errors or ''}".strip()) from None
        product = catalogue_services.product_attach_live_stock([product])[0]
        self.stdout.write(json.dumps(ProductOutputSerializer(product).data))
