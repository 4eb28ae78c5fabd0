from contextlib import contextmanager

from django.db import IntegrityError, transaction
from rest_framework import serializers

from crm.models import Address, Customer, CustomerRelationship

CUSTOMER_ID_TAKEN = "A customer with this customer_id already exists."


class StrictSerializerMixin:
    """Reject body keys that are not writable fields, instead of silently ignoring a typo."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return super().to_internal_value(data)


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
    """Two concurrent writes can both pass the unique validator; the database decides."""
    try:
        yield
    except IntegrityError as exc:
        if "customer_id" in str(exc):
            raise serializers.ValidationError({"customer_id": [CUSTOMER_ID_TAKEN]}) from exc
        raise
