"""Every log line names the purchase request it is about, plain or JSON (LOG_FORMAT)."""

import copy
import io
import json
import logging
import logging.config

from django.conf import settings

from seckill_site.log_context import RequestIdFilter, request_id_bound


def lines_logged(formatter: str) -> list[str]:
    """Two lines through a handler built as the settings' LOGGING builds the console's (its filter, the formatter
    named), without touching the process' own logging."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    configurator = logging.config.DictConfigurator(copy.deepcopy(settings.LOGGING))
    handler.setFormatter(configurator.configure_formatter(copy.deepcopy(settings.LOGGING["formatters"][formatter])))
    logger = logging.getLogger("probe.log_context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with request_id_bound("req-123"):
            logger.info("deciding")
        logger.info("between requests")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_json_lines_carry_the_request_id():
    inside, outside = (json.loads(line) for line in lines_logged("json"))
    assert inside["request_id"] == "req-123" and inside["message"] == "deciding" and inside["level"] == "INFO"
    assert outside["request_id"] == "-"


def test_the_console_handler_adds_the_request_id():
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]


def test_plain_lines_carry_it_too():
    inside, outside = lines_logged("plain")
    assert "[req-123] deciding" in inside and "[-] between requests" in outside
