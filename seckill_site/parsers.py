"""The JSON parser: DRF's, made safe for hostile bodies."""

import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from seckill_site.errors import PayloadTooLarge


class SafeJSONParser(JSONParser):
    """Reads at most SECKILL_MAX_BODY_BYTES (a larger body is a 413; one over Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    is refused by Django before this runs, which the exception handler answers 413 too), accepts UTF-8 only, and
    turns a body nested thousands of levels deep, which makes json.loads raise RecursionError (a 500 in DRF,
    docs/traps.md), into a 400 like any other malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.SECKILL_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise ParseError("JSON parse error - the body is not UTF-8.") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def json_body_read(request):
    """A request's JSON body as an answer given before DRF reads it (seckill/*/early_answers.py): parsed, when it is
    `application/json` within SECKILL_MAX_BODY_BYTES and well formed; None otherwise (the DRF view's parser then
    reads the same bytes and answers). Read once: DRF parses the same bytes if it must."""
    if request.content_type != "application/json":
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if not 0 < length <= settings.SECKILL_MAX_BODY_BYTES:
        return None
    try:
        return json.loads(request.body.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
