import json

from ninja.parser import Parser

from crm.api.errors import UnsupportedMediaType

JSON = "application/json"


class JSONParser(Parser):
    """ninja's JSON parser, refusing bodies that do not say they are JSON."""

    def parse_body(self, request):
        if request.content_type != JSON:
            raise UnsupportedMediaType(f'Unsupported media type "{request.content_type}".')
        # Malformed or absurdly nested JSON raises here; ninja turns any parse failure
        # into a 400, RecursionError from `[[[[…` included.
        return json.loads(request.body)
