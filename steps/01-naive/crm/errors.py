"""One error shape for the whole API: ``{"detail": "<field>: <message>", "errors": [...]}``.

DRF and django-filter report validation errors as ``{field: [messages]}``; clients of
this API get a ``detail`` string that names the field and a flat ``errors`` list.
"""

from collections.abc import Iterator

from django.db import OperationalError
from django.http import JsonResponse
from rest_framework import exceptions, serializers
from rest_framework.views import exception_handler as drf_exception_handler

BODY = "body"


def flatten(detail, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key == "non_field_errors" else f"{prefix}.{key}" if prefix else key
            yield from flatten(value, name)
    elif isinstance(detail, list):
        for item in detail:
            yield from flatten(item, prefix)
    else:
        yield prefix or BODY, str(detail)


def error_body(errors: list[tuple[str, str]]) -> dict:
    return {
        "detail": "; ".join(f"{field}: {message}" for field, message in errors),
        "errors": [{"field": field, "message": message} for field, message in errors],
    }


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Every error's body: ``detail`` says what is wrong, ``errors`` which field is to blame."""

    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True, required=False)


# What each kind of operation answers when it fails, in the OpenAPI document, so that a
# client knows every status it can get. A method a path does not serve is a 405 from
# the router before any operation runs; OpenAPI lists the methods a path serves.
READING = dict.fromkeys((400, 503), ErrorSerializer)
CREATING = dict.fromkeys((400, 409, 415, 503), ErrorSerializer)
ONE = dict.fromkeys((404, 503), ErrorSerializer)
CHANGING = dict.fromkeys((400, 404, 409, 415, 503), ErrorSerializer)


class Conflict(exceptions.APIException):
    """Well formed, but at odds with what the database holds: a 409 naming ``field``."""

    status_code = 409

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def exception_handler(exc, context):
    if isinstance(exc, OperationalError):
        # The database is down, or refused another connection: a 503 tells the client
        # to try again later, where a 500 would say the request itself broke something.
        return JsonResponse({"detail": "Database unavailable."}, status=503)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(list(flatten(exc.detail)))
    elif isinstance(exc, Conflict):
        response.data = error_body([(exc.field, str(exc.detail))])
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body([(BODY, str(exc.detail))])
    return response


def bad_request(request, exception=None):
    # Django answers oversized or otherwise suspicious requests before DRF sees them.
    return JsonResponse(error_body([(BODY, str(exception) or "Bad request.")]), status=400)


def not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)
