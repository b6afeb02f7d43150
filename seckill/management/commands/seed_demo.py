import json
import os
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from products.models import Product
from seckill.catalogue import services as catalogue_services


class Command(BaseCommand):
    help = "Make the local demo usable: a staff account and a demo product on sale now (idempotent)."

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
        self.stdout.write(
            json.dumps(
                {
                    "staff_username": username,
                    "staff_password": password if created else "(unchanged since the account was created)",
                    "demo_product_id": product.pk,
                }
            )
        )
