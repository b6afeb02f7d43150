"""Rate-limit rules as written in the environment. No Django imports: settings.py uses it."""

import re

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_RULE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


def parse_rate_rules(text: str) -> list[tuple[int, int]]:
    """'5/s,60/m' -> [(5, 1), (60, 60)]; '' -> [] (off). Raises ValueError for anything else."""
    rules = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _RULE.match(part.lower())
        if not match or match.group(3) not in _UNITS or int(match.group(2) or 1) < 1:
            raise ValueError(f"not a rate limit: {part!r} (write it like 5/s, 60/m or 100/10s)")
        limit, count, unit = int(match.group(1)), int(match.group(2) or 1), _UNITS[match.group(3)]
        rules.append((limit, count * unit))
    return rules
