"""The buyer's page: /shop/ (the products on sale) and /shop/<product_id>/ (sign in, count down, buy, pay), a Django
template and a small script (seckill/static/seckill/shop.js) over the public API, no front-end build."""
