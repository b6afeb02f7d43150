from django.core.management.base import BaseCommand, CommandError

from seckill.draws.verification import draw_verify
from seckill_site.errors import SeckillError


class Command(BaseCommand):
    help = (
        "Recompute a held draw from its seed and entry list (docs/draw.md) and check it against the ledger: the "
        "seed matches its commitment, the list its digest, the ranks the draw's order, the orders its first "
        "entrants. Prints the winners' codes. Exit status 0: it checks out, 1: it does not, 2: no such draw."
    )

    def add_arguments(self, parser):
        parser.add_argument("product", type=int, help="the product's id")

    def handle(self, *args, product, **opts):
        try:
            check = draw_verify(product_id=product)
        except SeckillError as error:
            raise CommandError(f"product {product}: {error.detail}", returncode=2) from None
        self.stdout.write(f"product {product}: {check.entries} entries, {len(check.winners)} winners")
        for code in check.winners:
            self.stdout.write(f"  won {code}")
        for code in check.passed_over:
            self.stdout.write(f"  passed over {code} (the ledger refused its buyer)")
        for problem in check.problems:
            self.stderr.write(f"FAILED: {problem}")
        if not check.ok:
            raise SystemExit(1)
        self.stdout.write("verified: the winners are the draw's order recomputed from its seed and entry list")
