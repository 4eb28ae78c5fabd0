from contextlib import contextmanager

from django.db import IntegrityError, models, transaction
from rest_framework import serializers

from crm.errors import Conflict
from crm.models import Address, Customer, CustomerRelationship

CUSTOMER_ID_TAKEN = "A customer with this customer_id already exists."


class StrictCharField(serializers.CharField):
    """Text is a JSON string: DRF's CharField would store ``0`` or ``true`` as "0", "True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializerMixin:
    """Reject body keys that are not writable fields, instead of silently ignoring a typo,
    and values of another JSON type than the field's."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
    }

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return super().to_internal_value(data)


# What the text fields refuse, as JSON Schema patterns: PostgreSQL text cannot hold NUL,
# and a required field that is only white space is blank once trimmed.
NO_NUL = "^[^\\u0000]*$"
NOT_BLANK = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


def strict_request_bodies(result, generator, request, public):
    """drf-spectacular post-processing hook: the request bodies (the ``…Request``
    components) say what the strict serializers refuse, so a client built from the
    document never sends it: a key they do not list (``additionalProperties: false``),
    NUL, and a blank required text."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if not (name.endswith("Request") and schema.get("type") == "object"):
            continue
        schema["additionalProperties"] = False
        for field in schema.get("properties", {}).values():
            if field.get("type") == "string" and not {"format", "enum"} & set(field):
                field["pattern"] = NOT_BLANK if field.get("minLength", 0) >= 1 else NO_NUL
    return result


class AddressSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Address
        fields = ["street", "street_number", "city_code", "city", "country"]


class RelationshipSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomerRelationship
        fields = ["points", "last_activity"]
        read_only_fields = fields


class CustomerSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    # Nested serializers read customer.address and customer.relationship per row:
    # without select_related that is two extra queries for every customer on a page.
    address = AddressSerializer(allow_null=True, required=False)
    # Null for a customer without one (the contract); documented so in the OpenAPI.
    relationship = RelationshipSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "customer_id",
            "first_name",
            "last_name",
            "gender",
            "phone_number",
            "birthday",
            "created",
            "last_updated",
            "address",
            "relationship",
        ]
        read_only_fields = ["id", "created", "last_updated"]
        # No UniqueValidator: its SELECT cannot see a concurrent write, so the database's
        # constraint decides, and a taken customer_id is a 409 (unique_customer_id).
        extra_kwargs = {"customer_id": {"validators": []}}

    def create(self, validated_data):
        address = validated_data.pop("address", None)
        with unique_customer_id(), transaction.atomic():
            if address is not None:
                validated_data["address"] = Address.objects.create(**address)
            customer = Customer.objects.create(**validated_data)
            CustomerRelationship.objects.create(appuser=customer)
        return customer

    def update(self, instance, validated_data):
        with unique_customer_id(), transaction.atomic():
            if "address" in validated_data:
                # Addresses are shared: a new address is a new row, never an edit of the old one.
                address = validated_data.pop("address")
                instance.address = Address.objects.create(**address) if address else None
            for name, value in validated_data.items():
                setattr(instance, name, value)
            instance.save()
        return instance


@contextmanager
def unique_customer_id():
    """Only the database can tell two concurrent writes of one customer_id apart."""
    try:
        yield
    except IntegrityError as exc:
        if "customer_id" in str(exc):
            raise Conflict("customer_id", CUSTOMER_ID_TAKEN) from exc
        raise
