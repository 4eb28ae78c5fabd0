"""One JSON request to a server the harness started, as a client sees its answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def get(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, object]:
    """The status and the JSON body (``None`` when empty) of one request, errors included."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
