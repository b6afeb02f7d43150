"""Redis and the flash sale's own settings."""

import ipaddress
import warnings

from seckill_site.rates import parse_rate_rules
from seckill_site.settings.env import env, env_bool, env_list

# --- Redis: the gate (stock, buyers), the Celery broker and the result backend -------------------------
# One URL by default; the broker and the result backend can be split off.
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")
# The gate's Redis (stock, buyers, request records, rate limits, blacklists: seckill/gate/keys.py), apart from the
# broker and the results when set. SECKILL_GATE_CLUSTER=1: a Redis Cluster, whose startup nodes SECKILL_GATE_URL
# lists, comma-separated (redis://h1:7001,redis://h2:7002; redis-py has no cluster URL scheme).
SECKILL_GATE_URL = env("SECKILL_GATE_URL", REDIS_URL)
SECKILL_GATE_CLUSTER = env_bool("SECKILL_GATE_CLUSTER", False)
# Redis connections one process may open (per pool: the gate's, the broker's, the result backend's).
SECKILL_REDIS_MAX_CONNECTIONS = int(env("SECKILL_REDIS_MAX_CONNECTIONS", "500"))

# --- The flash sale -------------------------------------------------------------------------------------
# Seconds the purchase view waits on the task's AsyncResult before answering 202 pending.
SECKILL_RESULT_TIMEOUT = float(env("SECKILL_RESULT_TIMEOUT", "3"))
# How long a request's record (owner, outcome) is kept for GET /api/seckill/requests/<id>/.
SECKILL_REQUEST_TTL = int(env("SECKILL_REQUEST_TTL", str(24 * 3600)))

# A request with no outcome after this many seconds is enqueued again (its broker message may be lost with a
# killed worker, or held unacknowledged until the visibility timeout) ... With the sweep's interval this bounds
# how long a buyer waits after a worker dies (docs/reliability.md). Running a request again is safe (it is
# decided once); what it costs is a second delivery of requests slower than this: raise it if tasks run long.
SECKILL_REDELIVER_AFTER = float(env("SECKILL_REDELIVER_AFTER", "5"))
# ... and after this many it is abandoned: refused for good (`unavailable`), unless Redis sold it (then it runs again).
SECKILL_GIVE_UP_AFTER = float(env("SECKILL_GIVE_UP_AFTER", "3600"))
# How often beat runs that sweep (one Redis read when nothing is pending).
SECKILL_SWEEP_INTERVAL = float(env("SECKILL_SWEEP_INTERVAL", "2"))
# While beat is silent (never seen, or not for max(10, 3 × SECKILL_SWEEP_INTERVAL) s), the workers send that sweep
# themselves, one of them per interval: a request lost with a killed worker is found without beat too. 0: only beat.
SECKILL_SWEEP_WITHOUT_BEAT = env_bool("SECKILL_SWEEP_WITHOUT_BEAT", True)
# How often beat compares Redis' blacklist mirror with the database (a read of the entries and inactive users).
SECKILL_BLACKLIST_RECONCILE_INTERVAL = float(env("SECKILL_BLACKLIST_RECONCILE_INTERVAL", "10"))

# Prometheus metrics at /metrics (seckill/ops/metrics.py); 0: nothing recorded. Several processes share their samples
# through PROMETHEUS_MULTIPROC_DIR (a directory wiped before they start: the run command sets .run/prometheus).
SECKILL_METRICS = env_bool("SECKILL_METRICS", True)
# The other hosts' web servers (base URLs, comma-separated), whose counters the live sale page adds to this
# host's (it reads their /metrics?counters=1, with SECKILL_METRICS_TOKEN when set); empty: one host.
SECKILL_METRICS_PEERS = tuple(env_list("SECKILL_METRICS_PEERS", ""))
# A plain purchase (a fast-checked token, a plain JSON body) and the product page, answered before DRF's request
# handling on the DRF views' own path, with their answers (seckill/purchases/early_answers.py); 0: all through DRF.
SECKILL_BEFORE_DRF = env_bool("SECKILL_BEFORE_DRF", True)

# --- Orders after the sale ------------------------------------------------------------------------------
# Seconds a buyer has to pay an order before it expires and its units go back on sale; 0: orders are born paid.
SECKILL_PAYMENT_WINDOW = int(env("SECKILL_PAYMENT_WINDOW", "900"))
# POST /api/orders/<id>/pay/ pays an order without a provider (a stand-in for a checkout, for demos): off unless set.
SECKILL_DEMO_PAYMENTS = env_bool("SECKILL_DEMO_PAYMENTS", False)
# The payment provider's webhook signing secret (Seckill-Signature); empty: the webhook refuses every call.
SECKILL_PAYMENT_WEBHOOK_SECRET = env("SECKILL_PAYMENT_WEBHOOK_SECRET", "")
# Seconds a webhook signature stays valid (replays older than this are refused).
SECKILL_PAYMENT_WEBHOOK_TOLERANCE = int(env("SECKILL_PAYMENT_WEBHOOK_TOLERANCE", "300"))
# How often beat expires due orders, and how many one transaction expires.
SECKILL_EXPIRE_INTERVAL = float(env("SECKILL_EXPIRE_INTERVAL", "5"))
SECKILL_EXPIRE_BATCH = int(env("SECKILL_EXPIRE_BATCH", "500"))
# How often beat checks that Redis and the database agree (report only), and how long a sale may be decided in
# Redis without its order before that counts as drift (its task may still be retrying).
SECKILL_RECONCILE_INTERVAL = float(env("SECKILL_RECONCILE_INTERVAL", "60"))
SECKILL_RECONCILE_GRACE = float(env("SECKILL_RECONCILE_GRACE", "120"))
# How often beat holds the draws whose window closed and hands units back in the ledger to their waitlists
# (seckill/worker/draw.py): a draw is held within this many seconds of its end.
SECKILL_DRAW_INTERVAL = float(env("SECKILL_DRAW_INTERVAL", "2"))

# --- Anti-bot (a product's anti_bot: seckill/antibot/) ------------------------------------------------------
# Seconds a purchase path stays valid after the sale starts (after it is issued, once the sale is on).
SECKILL_PATH_TTL = int(env("SECKILL_PATH_TTL", "60"))
# Seconds a proof-of-work challenge may be solved in.
SECKILL_CHALLENGE_TTL = int(env("SECKILL_CHALLENGE_TTL", "300"))
# PBKDF2 rounds of each step of the challenge (a product's challenge_cost is the number of steps, at most).
SECKILL_CHALLENGE_ITERATIONS = int(env("SECKILL_CHALLENGE_ITERATIONS", "10"))
# The challenge's verifier (seckill.antibot.challenges.ChallengeVerifier): ALTCHA's, or a hosted service's adapter.
SECKILL_CHALLENGE_VERIFIER = env("SECKILL_CHALLENGE_VERIFIER", "seckill.antibot.challenges.AltchaVerifier")

# --- The access layer's guards ---------------------------------------------------------------------------
# Rate limits per buyer and per client address, e.g. "5/s,60/m" (empty: off). Many buyers can share one
# address (mobile carriers, offices), so the per-address limit is off unless set.
SECKILL_USER_RATE_RULES = parse_rate_rules(env("SECKILL_USER_RATE_LIMIT", "5/s,60/m"))
SECKILL_IP_RATE_RULES = parse_rate_rules(env("SECKILL_IP_RATE_LIMIT", ""))
# Failed password logins (POST /api/auth/token/, the admin's login page) per (user name, client address) pair and
# per address: over them, 429 (seckill/access/logins.py). A user name alone, from any address, is only slowed
# down: after SECKILL_LOGIN_SLOW_AFTER failures within a minute (0: never), each try waits SECKILL_LOGIN_SLOWDOWN s.
SECKILL_LOGIN_USER_RATE_RULES = parse_rate_rules(env("SECKILL_LOGIN_USER_RATE_LIMIT", "10/m,50/h"))
SECKILL_LOGIN_IP_RATE_RULES = parse_rate_rules(env("SECKILL_LOGIN_IP_RATE_LIMIT", "60/m"))
SECKILL_LOGIN_SLOW_AFTER = int(env("SECKILL_LOGIN_SLOW_AFTER", "20"))
SECKILL_LOGIN_SLOWDOWN = float(env("SECKILL_LOGIN_SLOWDOWN", "1"))
# Refusals within a minute that earn a temporary ban (0: no bans), and the ban's length. Never permanent.
SECKILL_BAN_AFTER_BREACHES = int(env("SECKILL_BAN_AFTER_BREACHES", "0"))
SECKILL_BAN_TTL = int(env("SECKILL_BAN_TTL", "60"))
# Seconds between a web process' checks for blacklist changes (a change reaches every process within it).
SECKILL_BLACKLIST_REFRESH = float(env("SECKILL_BLACKLIST_REFRESH", "0.5"))
# Proxies in front of the web server (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For is
# believed; empty: REMOTE_ADDR only, the header never.
SECKILL_TRUSTED_PROXIES = tuple(ipaddress.ip_network(n, strict=False) for n in env_list("SECKILL_TRUSTED_PROXIES", ""))
# Who may read /metrics and /readyz (not /healthz, which stays open): a client address in these networks (this
# host by default: add the load balancer's and Prometheus' networks), as SECKILL_TRUSTED_PROXIES makes it and never
# a request forwarded by a proxy that is not trusted; or `Authorization: Bearer <SECKILL_METRICS_TOKEN>` (empty:
# no token accepted). A proxy on this host that forwards without saying so makes every client look local: keep
# these paths off it.
SECKILL_OPS_ALLOWED_NETWORKS = tuple(
    ipaddress.ip_network(n, strict=False) for n in env_list("SECKILL_OPS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
)
SECKILL_METRICS_TOKEN = env("SECKILL_METRICS_TOKEN", "")
# Hosts whose Origin (or Referer) may buy, comma-separated; empty: any.
SECKILL_ALLOWED_ORIGINS = frozenset(h.lower() for h in env_list("SECKILL_ALLOWED_ORIGINS", ""))
# At most ceil(stock_left * factor) purchase requests per product in flight to the logic layer.
SECKILL_ADMISSION_FACTOR = float(env("SECKILL_ADMISSION_FACTOR", "1.5"))
# Seconds after which an admission slot frees itself if its task never finished (its worker died); the sweeper
# re-runs such requests, which frees their slots sooner (a slot is freed when the outcome is recorded).
SECKILL_ADMISSION_SLOT_TTL = float(env("SECKILL_ADMISSION_SLOT_TTL", "300"))
# Seconds a web process keeps a product's sale state (window, limit, sold out) without asking Redis.
SECKILL_LOCAL_CACHE_TTL = float(env("SECKILL_LOCAL_CACHE_TTL", "1"))
# Largest request body the API reads.
SECKILL_MAX_BODY_BYTES = int(env("SECKILL_MAX_BODY_BYTES", "4096"))
# Seconds an Idempotency-Key keeps answering with its first request's outcome.
SECKILL_IDEMPOTENCY_TTL = int(env("SECKILL_IDEMPOTENCY_TTL", str(24 * 3600)))

# (SECKILL_BENCH_ENDPOINTS, which mounted the benchmark's endpoints, is gone: bench/settings.py adds them.)
if env_bool("SECKILL_BENCH_ENDPOINTS", False):
    warnings.warn(
        "SECKILL_BENCH_ENDPOINTS is no longer read: run with DJANGO_SETTINGS_MODULE=bench.settings for the "
        "benchmark's endpoints",
        stacklevel=1,
    )
