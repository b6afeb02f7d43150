"""The draw's rules (seckill/draws/fairness.py), checked against docs/draw.md's definition written out again here
with nothing but hashlib and hmac, as a buyer checking a draw would."""

import hashlib
import hmac
import random

from seckill.draws import fairness


def documented_order(seed: str, codes: list[str]) -> list[str]:
    keyed = [(hmac.new(seed.encode(), code.encode(), hashlib.sha256).hexdigest(), code) for code in codes]
    return [code for _, code in sorted(keyed)]


def test_the_order_is_the_documented_keyed_sort_whatever_order_the_codes_come_in():
    seed = fairness.seed_new()
    codes = [fairness.entry_code_new() for _ in range(500)]
    shuffled = random.sample(codes, len(codes))
    assert fairness.draw_order(seed, codes) == fairness.draw_order(seed, shuffled) == documented_order(seed, codes)


def test_another_seed_draws_another_order():
    codes = [fairness.entry_code_new() for _ in range(50)]
    assert fairness.draw_order(fairness.seed_new(), codes) != fairness.draw_order(fairness.seed_new(), codes)


def test_the_commitment_and_the_list_digest_are_plain_sha256():
    seed = "ab" * 32
    assert fairness.seed_commitment(seed) == hashlib.sha256(seed.encode()).hexdigest()
    assert fairness.entries_list(["b1", "a2"]) == "a2\nb1\n"
    assert fairness.entries_digest(["b1", "a2"]) == hashlib.sha256(b"a2\nb1\n").hexdigest()


def test_codes_and_seeds_have_their_documented_shape():
    code, seed = fairness.entry_code_new(), fairness.seed_new()
    assert len(code) == fairness.CODE_HEX_DIGITS and int(code, 16) >= 0
    assert len(seed) == 64 and int(seed, 16) >= 0
