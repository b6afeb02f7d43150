"""The JSON parser: DRF's, made safe for hostile bodies."""
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """A body nested thousands of levels deep makes json.loads raise RecursionError, which DRF does not catch:
    a 500 from any client (TRAPS.md). Here it is a 400 like any other malformed body."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
