from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.filters import SearchFilter

from crm import errors
from crm.filters import CustomerFilter
from crm.models import Customer
from crm.pagination import CustomerPagination
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


@extend_schema_view(
    list=extend_schema(responses={200: CustomerSerializer, **errors.READING}),
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
