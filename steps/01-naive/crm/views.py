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
from crm.serializers import CustomerSerializer

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


def bounded(name: str, schema: dict) -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY)


def documented_bounds() -> list[OpenApiParameter]:
    """The bounds the list checks, in the OpenAPI document: drf-spectacular names the
    filters and pagination parameters but leaves out their limits, and a client built
    from the document would send what the API then refuses."""
    found = [
        bounded("page", {"type": "integer", "minimum": 1}),
        bounded("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}),
        bounded("search", {"type": "string", "maxLength": MAX_SEARCH_LENGTH}),
    ]
    for name, field in CustomerFilter.base_filters.items():
        if isinstance(field, IntegerFilter):
            limits = {"minimum": field.extra["min_value"], "maximum": field.extra["max_value"]}
            found.append(bounded(name, {"type": "integer", **limits}))
        elif isinstance(field, django_filters.CharFilter) and "max_length" in field.extra:
            found.append(bounded(name, {"type": "string", "maxLength": field.extra["max_length"]}))
    return found


@extend_schema_view(
    list=extend_schema(
        parameters=documented_bounds(), responses={200: CustomerSerializer, **errors.READING}
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
