"""Draw mode (docs/draw.md): a product whose stock is drawn among the buyers who entered during its window.

Where each step lives: the rules that pick the winners (fairness.py), an entry's answers and the reads of a
buyer's result (outcomes.py, selectors.py) and their endpoints (api.py) here; the entry itself is a purchase request
(seckill/purchases/entries.py, one Redis step: seckill/gate/entries.py + enter.lua); the draw and the waitlist run on
the worker (seckill/worker/draw.py), started by beat (seckill.draw_tick).
"""
