"""Settings: everything from the environment, with a default that works on a laptop.

Every variable read here is listed, with a one-line comment, in `.env.example`. A `.env` file beside manage.py
(or the file SECKILL_DOTENV names; empty: none) is read first (env.py), with exported variables winning, so that
manage.py, the web server, the worker, beat and the run command all see the same values. By concern:
web.py (Django, DRF, security, logs), sale.py (Redis and the sale's own settings), worker.py (Celery).
"""

from seckill_site.settings.env import *  # noqa: F401,F403
from seckill_site.settings.sale import *  # noqa: F401,F403
from seckill_site.settings.web import *  # noqa: F401,F403
from seckill_site.settings.worker import *  # noqa: F401,F403
