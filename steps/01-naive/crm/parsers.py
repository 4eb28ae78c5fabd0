from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, minus a 500 on absurdly nested documents."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json.loads recurses once per nesting level: `[[[[…` 100,000 deep
            # exhausts the stack before it finds the document malformed.
            raise ParseError("JSON parse error - nested too deeply") from None
