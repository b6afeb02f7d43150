"""Worker side: the ledger's statements of a sale, in plain SQL.

Plain SQL because building these two queries with the ORM costs many times what running them does, and the logic layer
runs them for every sale (measured: docs/benchmark-log.md, "History", first round). A worker's batch of sales is one
statement per product on PostgreSQL (`ledger_sell_many`). The ORM's rules still hold: the unique constraints raise
IntegrityError, the timestamp is stored as the ORM stores it.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from products.models import Product
from seckill.models import Order

_LEDGER_SQL: dict[str, tuple[str, str, str | None]] = {}
# The order's columns the sale writes, besides unit_price (read from the product in the same statement).
_ORDER_COLUMNS = (
    "request_id",
    "user",
    "product",
    "quantity",
    "status",
    "created_at",
    "pay_by",
    "paid_at",
    "gate_released",
)


def _ledger_sql() -> tuple[str, str, str | None]:
    """The two statements of a sale, for this database (built once from the models' table and column names),
    and on PostgreSQL the same as one statement (the UPDATE in a WITH, the INSERT reading its RETURNING): one
    round trip to the server instead of two, with the product's row lock held that much shorter."""
    vendor = connection.vendor
    if vendor not in _LEDGER_SQL:
        q = connection.ops.quote_name
        user_model = get_user_model()
        product, order, user = Product._meta, Order._meta, user_model._meta
        stock, price = q(product.get_field("stock_left").column), q(product.get_field("price").column)
        take = (
            f"UPDATE {q(product.db_table)} SET {stock} = {stock} - %s "
            f"WHERE {q(product.pk.column)} = %s AND {stock} >= %s AND EXISTS (SELECT 1 FROM {q(user.db_table)} "
            f"WHERE {q(user.pk.column)} = %s AND {q(user.get_field('is_active').column)} = %s)"
        )
        columns = ", ".join(
            q(order.get_field(name).column) for name in _ORDER_COLUMNS[:4] + ("unit_price",) + _ORDER_COLUMNS[4:]
        )
        values = ", ".join(["%s"] * 4 + ["{price}"] + ["%s"] * (len(_ORDER_COLUMNS) - 4))
        insert = (
            f"INSERT INTO {q(order.db_table)} ({columns}) SELECT {values.format(price=price)} "
            f"FROM {q(product.db_table)} WHERE {q(product.pk.column)} = %s"
        )
        if connection.features.can_return_columns_from_insert:
            insert += f" RETURNING {q(order.pk.column)}"
        combined = None
        if vendor == "postgresql":
            combined = (
                f"WITH taken AS ({take} RETURNING {price}) INSERT INTO {q(order.db_table)} ({columns}) "
                f"SELECT {values.format(price='taken.' + price)} FROM taken RETURNING {q(order.pk.column)}"
            )
        _LEDGER_SQL[vendor] = (take, insert, combined)
    return _LEDGER_SQL[vendor]


def ledger_sell(*, request_id: str, user_id: int, product_id: int, quantity: int) -> int | None:
    """Take `quantity` units from the ledger's stock, if there are that many and the buyer is active, and insert
    the order at the product's current price: pending payment until SECKILL_PAYMENT_WINDOW seconds from now, or
    paid when that is 0. Returns the new order's id, or None when nothing was taken.

    One statement on PostgreSQL, two elsewhere (`_ledger_sql`). Must run inside the caller's transaction.
    """
    take, insert, combined = _ledger_sql()
    order_values = _order_values(request_id, user_id, product_id, quantity, timezone.now())
    with connection.cursor() as cursor:
        if combined is not None:
            cursor.execute(combined, [quantity, product_id, quantity, user_id, True, *order_values])
            row = cursor.fetchone()
            return None if row is None else row[0]
        cursor.execute(take, [quantity, product_id, quantity, user_id, True])
        if cursor.rowcount != 1:
            return None
        cursor.execute(insert, [*order_values, product_id])
        if connection.features.can_return_columns_from_insert:
            return cursor.fetchone()[0]
        return cursor.lastrowid


_MANY_SQL: dict[int, str] = {}


def _ledger_many_sql(rows: int) -> str:
    """PostgreSQL: the sales of `rows` requests of one product as one statement, built once per row count. The
    requests as rows (`asked`); those of active buyers (`active`); their units taken from the product's stock
    together, if it holds that many (`taken`, which locks the row); their orders inserted at the product's
    price, RETURNING each order's id and request id. The unique constraints hold as in ledger_sell."""
    if rows not in _MANY_SQL:
        q = connection.ops.quote_name
        user_model = get_user_model()
        product, order, user = Product._meta, Order._meta, user_model._meta
        stock, price = q(product.get_field("stock_left").column), q(product.get_field("price").column)
        fields = [order.get_field(name) for name in _ORDER_COLUMNS]
        names = [q(field.column) for field in fields]
        row = "(" + ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in fields) + ")"
        quantity, product_id, user_id = (q(order.get_field(name).column) for name in ("quantity", "product", "user"))
        columns = ", ".join(names[:4] + [q(order.get_field("unit_price").column)] + names[4:])
        values = ", ".join(
            [f"asked.{name}" for name in names[:4]] + [f"taken.{price}"] + [f"asked.{name}" for name in names[4:]]
        )
        _MANY_SQL[rows] = (
            f"WITH asked ({', '.join(names)}) AS (VALUES {', '.join([row] * rows)}), "
            f"active AS (SELECT * FROM asked WHERE EXISTS (SELECT 1 FROM {q(user.db_table)} "
            f"WHERE {q(user.pk.column)} = asked.{user_id} AND {q(user.get_field('is_active').column)})), "
            f"taken AS (UPDATE {q(product.db_table)} SET {stock} = {stock} - need.units "
            f"FROM (SELECT SUM({quantity}) AS units FROM active) AS need "
            f"WHERE {q(product.pk.column)} = %s AND {stock} >= need.units RETURNING {price}) "
            f"INSERT INTO {q(order.db_table)} ({columns}) SELECT {values} FROM active AS asked, taken "
            f"RETURNING {q(order.pk.column)}, {q(order.get_field('request_id').column)}"
        )
    return _MANY_SQL[rows]


def ledger_sell_many(requests: list[dict]) -> dict[str, int]:
    """Sell a batch of one product's requests (dicts of request_id, user_id, product_id, quantity). Returns the
    new orders' ids by request id; a request left out was not sold. Must run inside the caller's transaction.

    On PostgreSQL one statement (`_ledger_many_sql`): the units of all the active buyers' requests are taken
    together if the stock covers them all, and none otherwise. It costs the database server half of what one
    ledger_sell per request costs (bench/ledger_cost.py). Elsewhere one ledger_sell per request, in order."""
    product_id = requests[0]["product_id"]
    if any(fields["product_id"] != product_id for fields in requests):
        raise ValueError("ledger_sell_many sells one product's requests")
    if connection.vendor != "postgresql":
        sold = {}
        for fields in requests:
            order_id = ledger_sell(**fields)
            if order_id is not None:
                sold[fields["request_id"]] = order_id
        return sold
    now = timezone.now()
    params = [value for fields in requests for value in _order_values(**fields, now=now)]
    with connection.cursor() as cursor:
        cursor.execute(_ledger_many_sql(len(requests)), [*params, product_id])
        return {request_id: order_id for order_id, request_id in cursor.fetchall()}


def _order_values(request_id: str, user_id: int, product_id: int, quantity: int, now) -> list:
    """The order's values in _ORDER_COLUMNS' order."""
    window = settings.SECKILL_PAYMENT_WINDOW
    adapt = connection.ops.adapt_datetimefield_value
    if window > 0:  # to be paid within the window, or it expires (seckill.orders.services)
        status, pay_by, paid_at = Order.Status.PENDING_PAYMENT, adapt(now + timedelta(seconds=window)), None
    else:  # payment off: born paid
        status, pay_by, paid_at = Order.Status.PAID, None, adapt(now)
    return [request_id, user_id, product_id, quantity, status, adapt(now), pay_by, paid_at, False]
