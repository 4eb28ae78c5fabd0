import datetime as dt

from ninja.renderers import JSONRenderer
from ninja.responses import NinjaJSONEncoder


class Encoder(NinjaJSONEncoder):
    def default(self, o):
        # Django's encoder cuts datetimes to milliseconds; DRF (step 01) keeps every digit.
        if isinstance(o, dt.datetime):
            text = o.isoformat()
            return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
        return super().default(o)


class CompactJSONRenderer(JSONRenderer):
    """The same bytes as step 01's DRF renderer: compact separators, UTF-8 unescaped."""

    encoder_class = Encoder
    json_dumps_params = {"separators": (",", ":"), "ensure_ascii": False}


RENDERER = CompactJSONRenderer()
