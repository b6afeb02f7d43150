"""The buyer's pages. They only serve the template: everything they show and do goes through the public API."""

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from products import selectors
from products.errors import ProductNotFound
from seckill.purchases.sale_cache import product_get_cached

SHOWN = 50


def shop_index(request):
    """The products whose sale has not ended, soonest first, each a link to its page."""
    products = selectors.product_list_not_ended(now=timezone.now())
    return render(request, "shop/index.html", {"products": products[:SHOWN]})


def shop_product(request, product_id: int):
    try:
        product = product_get_cached(product_id=product_id)
    except ProductNotFound:
        raise Http404("No such product.") from None
    return render(request, "shop/product.html", {"product": product})
