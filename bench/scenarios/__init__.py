"""The benchmark's scenarios, one module each: burst, sold_out, accepted, product_page (and expiring orders,
which run beside the floods)."""
