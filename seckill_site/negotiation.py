"""Content negotiation for an API that only speaks JSON."""

from rest_framework.negotiation import DefaultContentNegotiation


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """With one renderer there is nothing to choose: answer with it without parsing the Accept header (DRF's
    negotiation is a noticeable share of a sold-out answer's CPU). An API client asking for something else gets JSON,
    as it would from most APIs, rather than a 406. Views with several renderers negotiate as usual."""

    def select_parser(self, request, parsers):
        """The common case without parsing media types: one parser and exactly its content type (parameters
        such as charset aside); anything else is matched as DRF matches it."""
        if len(parsers) == 1:
            content_type = request.content_type or ""
            if content_type.partition(";")[0].strip().lower() == parsers[0].media_type:
                return parsers[0]
        return super().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1 and not format_suffix:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
