from django.contrib.postgres.indexes import OpClass
from django.db import models
from django.db.models.functions import Upper
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
        indexes = [
            # ?city=: UPPER("address"."city"::text) = UPPER('paris'), the iexact lookup.
            models.Index(Upper("city"), name="address_city_upper_idx"),
            # ?country=, the same way. Only 8 countries, so it serves the COUNT(*) of a
            # filtered listing (a bitmap scan instead of reading every address), not the
            # page, which walks the ordering's index and stops after 20 rows.
            models.Index(Upper("country"), name="address_country_upper_idx"),
        ]

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
        # Orderings: ORDER BY key, id (both ASC, or both DESC read backwards). The key
        # first lets the first page stop after page_size index entries; id second is
        # the tiebreak every listing adds, so no sort step is left. customer_id needs
        # none: its unique index already orders it, and ties cannot occur.
        indexes = [
            # The default listing (-created) and ?created_after= / ?created_before=.
            models.Index(fields=["created", "id"], name="app_user_created_id_idx"),
            models.Index(fields=["first_name", "id"], name="app_user_first_name_id_idx"),
            models.Index(fields=["last_name", "id"], name="app_user_last_name_id_idx"),
            # ?ordering=birthday and ?birthday_after= / ?birthday_before=.
            models.Index(fields=["birthday", "id"], name="app_user_birthday_id_idx"),
            # ?first_name= / ?last_name=: UPPER(col::text) LIKE UPPER('ad%'), the
            # istartswith lookup. The index must hold the same expression; the pattern
            # opclass lets LIKE 'prefix%' use it whatever the database's collation.
            models.Index(
                OpClass(Upper("first_name"), name="text_pattern_ops"),
                name="app_user_first_name_upper_idx",
            ),
            models.Index(
                OpClass(Upper("last_name"), name="text_pattern_ops"),
                name="app_user_last_name_upper_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.first_name} {self.last_name}"


class CustomerRelationship(models.Model):
    appuser = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="relationship")
    points = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "customer_relationship"
        indexes = [
            # ?points_min= / ?points_max=, and ?ordering=points together with them. On
            # its own, ?ordering=points still sorts every customer: points sit on the
            # nullable side of a LEFT JOIN, which PostgreSQL cannot drive from an index.
            models.Index(fields=["points", "appuser"], name="relationship_points_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.appuser_id}: {self.points} points"
