import django_filters
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.filters import SearchFilter

from crm import errors
from crm.filters import CustomerFilter, IntegerFilter
from crm.models import Customer
from crm.pagination import MAX_PAGE_SIZE, CustomerPagination
from crm.serializers import NO_NUL, CustomerSerializer

MAX_SEARCH_LENGTH = 100


class CustomerSearchFilter(SearchFilter):
    """DRF's SearchFilter: every term ``icontains`` over every field, joins included."""

    def get_search_terms(self, request):
        value = request.query_params.get(self.search_param, "")
        if len(value) > MAX_SEARCH_LENGTH:
            raise ValidationError(
                {"search": [f"Ensure this value has at most {MAX_SEARCH_LENGTH} characters."]}
            )
        if "\x00" in value:
            raise ValidationError({"search": ["Null characters are not allowed."]})
        return super().get_search_terms(request)


# A blank filter is no filter (django-filter's rule): the document says so.
BLANK = {"type": "string", "enum": [""]}


def parameter(name: str, schema: dict, blank: bool = True) -> OpenApiParameter:
    return OpenApiParameter(name, {"anyOf": [schema, BLANK]} if blank else schema)


def text(max_length: int) -> dict:
    return {"type": "string", "maxLength": max_length, "pattern": NO_NUL}


def documented_parameters() -> list[OpenApiParameter]:
    """The list's parameters as it checks them: drf-spectacular names the filters and the
    pagination but leaves out their limits and that a blank one is no filter, and a
    client built from the document would send what the API then refuses."""
    found = [
        parameter("page", {"type": "integer", "minimum": 1}),
        parameter(
            "page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}, blank=False
        ),
        parameter("search", text(MAX_SEARCH_LENGTH), blank=False),
    ]
    for name, field in CustomerFilter.base_filters.items():
        if isinstance(field, IntegerFilter):
            limits = {"minimum": field.extra["min_value"], "maximum": field.extra["max_value"]}
            found.append(parameter(name, {"type": "integer", **limits}))
        elif isinstance(field, django_filters.DateFilter):
            found.append(parameter(name, {"type": "string", "format": "date"}))
        elif isinstance(field, django_filters.ChoiceFilter):
            choices = [value for value, _ in field.extra["choices"]]
            found.append(parameter(name, {"type": "string", "enum": choices}))
        elif isinstance(field, django_filters.CharFilter):
            found.append(parameter(name, text(field.extra["max_length"]), blank=False))
    return found


@extend_schema_view(
    list=extend_schema(
        parameters=documented_parameters(), responses={200: CustomerSerializer, **errors.READING}
    ),
    create=extend_schema(responses={201: CustomerSerializer, **errors.CREATING}),
    retrieve=extend_schema(responses={200: CustomerSerializer, **errors.ONE}),
    partial_update=extend_schema(responses={200: CustomerSerializer, **errors.CHANGING}),
    destroy=extend_schema(responses={204: None, **errors.ONE}),
)
class CustomerViewSet(viewsets.ModelViewSet):
    queryset = Customer.objects.order_by("-created", "-id")
    serializer_class = CustomerSerializer
    pagination_class = CustomerPagination
    filter_backends = [DjangoFilterBackend, CustomerSearchFilter]
    filterset_class = CustomerFilter
    search_fields = [
        "first_name",
        "last_name",
        "customer_id",
        "phone_number",
        "address__street",
        "address__city",
        "address__city_code",
        "address__country",
    ]
    # The contract has no PUT: partial updates only.
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    lookup_value_regex = "[0-9]+"


@require_safe
def health(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
