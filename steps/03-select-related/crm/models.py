from django.db import models
from django.utils import timezone


class Gender(models.TextChoices):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNDEFINED = "undefined"


class Address(models.Model):
    street = models.CharField(max_length=255)
    street_number = models.CharField(max_length=16)
    city_code = models.CharField(max_length=16)
    city = models.CharField(max_length=128)
    country = models.CharField(max_length=64)

    class Meta:
        db_table = "address"

    def __str__(self) -> str:
        return f"{self.street} {self.street_number}, {self.city_code} {self.city}, {self.country}"


class Customer(models.Model):
    customer_id = models.CharField(max_length=64, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    gender = models.CharField(max_length=9, choices=Gender.choices, default=Gender.UNDEFINED)
    # NULL, not "", is how the contract says "no phone number".
    phone_number = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    birthday = models.DateField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    last_updated = models.DateTimeField(auto_now=True)
    # Addresses are shared between customers, so deleting a customer never deletes one.
    address = models.ForeignKey(
        Address, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )

    class Meta:
        db_table = "app_user"

    def __str__(self) -> str:
        return f"{self.customer_id} {self.first_name} {self.last_name}"


class CustomerRelationship(models.Model):
    appuser = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="relationship")
    points = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "customer_relationship"

    def __str__(self) -> str:
        return f"{self.appuser_id}: {self.points} points"
