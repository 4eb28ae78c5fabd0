"""One error shape for the whole API: ``{"detail": "<field>: <message>", "errors": [...]}``.

django-ninja answers validation errors with a 422 and pydantic's error list; clients of
this API get a 400 whose ``detail`` names the field, as in every other step.
"""

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError

from crm.domain.errors import CustomerIdTaken, CustomerNotFound

BODY = "body"
UNKNOWN_FIELD = "Unknown or read-only field."
CUSTOMER_ID_TAKEN = "A customer with this customer_id already exists."
# Where ninja puts a parameter in pydantic's `loc`: ("query", name), ("path", name),
# ("body", <view argument>, field, ...).
SOURCES = {"query": 1, "path": 1, "body": 2}


class UnsupportedMediaType(Exception):
    pass


class FieldError(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    """Every error's body: ``detail`` says what is wrong, ``errors`` which field is to blame."""

    detail: str
    errors: list[FieldError] | None = None


# What each kind of operation answers when it fails, in the OpenAPI document, so that a
# client knows every status it can get. A method a path does not serve is a 405 from
# the router before any operation runs; OpenAPI lists the methods a path serves.
READING = dict.fromkeys((400, 503), ErrorOut)
CREATING = dict.fromkeys((400, 409, 415, 503), ErrorOut)
ONE = dict.fromkeys((404, 503), ErrorOut)
CHANGING = dict.fromkeys((400, 404, 409, 415, 503), ErrorOut)


def error_body(errors: list[tuple[str, str]]) -> dict:
    return {
        "detail": "; ".join(f"{field}: {message}" for field, message in errors),
        "errors": [{"field": field, "message": message} for field, message in errors],
    }


def error_field(loc: tuple) -> str:
    names = [str(part) for part in loc[SOURCES.get(loc[0], 0) if loc else 0 :]]
    return ".".join(names) or BODY


def error_message(error: dict) -> str:
    if error["type"] == "extra_forbidden":
        return UNKNOWN_FIELD
    return error["msg"].removeprefix("Value error, ")


def validation_error(request, exc: ValidationError):
    errors = [(error_field(tuple(e["loc"])), error_message(e)) for e in exc.errors]
    return JsonResponse(error_body(errors), status=400)


def http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, UnsupportedMediaType):
        return JsonResponse({"detail": str(exc.__cause__)}, status=415)
    if exc.status_code == 400:
        # ninja's only 400 of its own: a body that is not JSON.
        return JsonResponse(error_body([(BODY, str(exc))]), status=400)
    return JsonResponse({"detail": str(exc)}, status=exc.status_code)


def not_found_error(request, exc: Http404):
    return JsonResponse({"detail": "Not found."}, status=404)


def customer_not_found(request, exc: CustomerNotFound):
    return JsonResponse({"detail": "Not found."}, status=404)


def customer_id_taken(request, exc: CustomerIdTaken):
    return JsonResponse(error_body([("customer_id", CUSTOMER_ID_TAKEN)]), status=409)


def body_too_big(request, exc: RequestDataTooBig):
    return JsonResponse(error_body([(BODY, str(exc))]), status=400)


def database_unavailable(request, exc: OperationalError):
    # The database is down, or the pool had no connection free within its timeout.
    return JsonResponse({"detail": "Database unavailable."}, status=503)


def register(api: NinjaAPI) -> None:
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found_error)
    api.add_exception_handler(CustomerNotFound, customer_not_found)
    api.add_exception_handler(CustomerIdTaken, customer_id_taken)
    api.add_exception_handler(RequestDataTooBig, body_too_big)
    api.add_exception_handler(OperationalError, database_unavailable)


def bad_request(request, exception=None):
    # Django answers oversized or otherwise suspicious requests before the API sees them.
    return JsonResponse(error_body([(BODY, str(exception) or "Bad request.")]), status=400)


def not_found(request, exception=None):
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request):
    return JsonResponse({"detail": "Internal server error."}, status=500)
