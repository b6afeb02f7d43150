import json
import os
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from products.models import AntiBot, Product, SaleMode
from seckill.catalogue import services as catalogue_services

GUARDED_NAME = "Demo product with a challenge"
GUARDED_OPENS_IN = timedelta(minutes=2)
DRAW_NAME = "Demo draw"
DRAW_ENTRIES_FOR = timedelta(minutes=10)  # entries from the run's start; the draw at its end


class Command(BaseCommand):
    help = (
        "Make the local demo usable: a staff account, a demo product on sale now, one sold with a challenge "
        "and a purchase path that opens two minutes after it is made (the buyer's page counts down to it), and a "
        "draw taking entries for ten minutes (a new one once the last has ended); idempotent."
    )

    def handle(self, *args, **opts):
        User = get_user_model()
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin-seckill")
        staff, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            staff.set_password(password)
            staff.save()
        product = Product.objects.filter(name="Demo flash-sale product").first()
        if product is None:
            product = catalogue_services.product_create(name="Demo flash-sale product", stock_total=100, price="9.99")
        elif product.end_time <= timezone.now():  # a demo from an earlier day: open its window again
            now = timezone.now()
            product = catalogue_services.product_update(
                product=product, start_time=now, end_time=now + timedelta(hours=1)
            )
        guarded = Product.objects.filter(name=GUARDED_NAME).first()
        now = timezone.now()
        if guarded is None:
            guarded = catalogue_services.product_create(
                name=GUARDED_NAME,
                stock_total=50,
                price="19.99",
                start_time=now + GUARDED_OPENS_IN,
                end_time=now + GUARDED_OPENS_IN + timedelta(hours=1),
                anti_bot=AntiBot.CHALLENGE,
            )
        elif guarded.end_time <= now:
            guarded = catalogue_services.product_update(
                product=guarded,
                start_time=now + GUARDED_OPENS_IN,
                end_time=now + GUARDED_OPENS_IN + timedelta(hours=1),
            )
        draw = Product.objects.filter(name=DRAW_NAME, sale_mode=SaleMode.DRAW, end_time__gt=now).first()
        if draw is None:  # (a draw is held once: an ended one stays as it was drawn)
            draw = catalogue_services.product_create(
                name=DRAW_NAME,
                stock_total=5,
                price="49.99",
                start_time=now,
                end_time=now + DRAW_ENTRIES_FOR,
                sale_mode=SaleMode.DRAW,
                waitlist_until=now + DRAW_ENTRIES_FOR + timedelta(minutes=30),
            )
        self.stdout.write(
            json.dumps(
                {
                    "staff_username": username,
                    "staff_password": password if created else "(unchanged since the account was created)",
                    "demo_product_id": product.pk,
                    "demo_anti_bot_product_id": guarded.pk,
                    "demo_draw_product_id": draw.pk,
                    "shop": f"/shop/{guarded.pk}/",
                }
            )
        )
