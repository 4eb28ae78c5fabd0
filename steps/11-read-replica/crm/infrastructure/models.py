"""The ORM's tables: the schema of migrations 0001-0005."""

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Value
from django.db.models.functions import Cast, Coalesce, Left, Upper
from django.utils import timezone

from crm.domain.customers import Gender

# The domain's genders as the column's choices: one list, and migration 0001's.
GenderChoices = models.TextChoices("Gender", [(gender.name, gender.value) for gender in Gender])


class Address(models.Model):
    street = models.CharField(max_length=255)
    street_number = models.CharField(max_length=16)
    city_code = models.CharField(max_length=16)
    city = models.CharField(max_length=128)
    country = models.CharField(max_length=64)

    class Meta:
        db_table = "address"
        # No index: ?city= and ?country= read the customer's copies (migration 0005), and
        # step 04's UPPER(city) index served nothing else.

    def __str__(self) -> str:
        return f"{self.street} {self.street_number}, {self.city_code} {self.city}, {self.country}"


# A NULL key sorts after every value: last ascending, first descending. A (key, id)
# comparison never matches NULL, though, so keyset pagination sorts by a key that
# replaces NULL with a value beyond every real one: the order stays the same, and every
# row, NULL or not, lies in one range of one (key, id) index.
NULL_KEYS = {
    # No date a client can send (YYYY-MM-DD) sorts after 'infinity'.
    "birthday": Cast(Value("infinity"), models.DateField()),
    # relationship.points is a PostgreSQL integer, at most 2**31 - 1.
    "points": Value(2**31, models.BigIntegerField()),
}
SORT_KEYS = {name: Coalesce(name, null) for name, null in NULL_KEYS.items()}

# The text-search configuration of every vector and query (migration 0004): `simple`,
# which lower-cases words and keeps them whole (no stemming, no stop words: a language
# stemmer mangles surnames and drops the "van", "de" and "da" that start a tenth of them),
# behind `unaccent`, so that "Hervas" finds "Hervás" and "Lodz" finds "Łódź".
SEARCH_CONFIG = "crm_search"


class Customer(models.Model):
    customer_id = models.CharField(max_length=64, unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    gender = models.CharField(max_length=9, choices=GenderChoices.choices, default=Gender.UNDEFINED)
    # NULL, not "", is how the contract says "no phone number".
    phone_number = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    birthday = models.DateField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    last_updated = models.DateTimeField(auto_now=True)
    # Addresses are shared between customers, so deleting a customer never deletes one.
    address = models.ForeignKey(
        Address, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers"
    )
    # A copy of relationship.points, NULL without a relationship, kept by a trigger on
    # customer_relationship (migration 0003), never written by Django. On this row an
    # index can order every customer by points, those without points included: across
    # the LEFT JOIN no index could.
    points = models.BigIntegerField(null=True, editable=False)
    # The address's street, city code, city and country, NULL without an address: a copy
    # kept by triggers on app_user and address (migrations 0004 and 0005), never written
    # by Django.
    # A generated column may read only its own row, so the address reaches the search
    # vector through this column.
    address_text = models.TextField(null=True, editable=False)  # noqa: DJ001
    # The address's city and country, NULL without an address: copies kept by the trigger
    # that keeps address_text (migration 0005), never written by Django. Filtered here,
    # a city is a condition on this table alone: one index serves the filter and the
    # listing's order together, and the planner counts a city's customers from this
    # table's own statistics instead of guessing across the join.
    address_city = models.CharField(max_length=128, null=True, editable=False)  # noqa: DJ001
    address_country = models.CharField(max_length=64, null=True, editable=False)  # noqa: DJ001
    # Computed by PostgreSQL on every write of the row, from the row alone. The weights
    # rank what a match says about who was meant: A for the names and customer_id a
    # person types to find one customer, B for the phone number (one customer too, but
    # typed less), C for the address, which thousands share.
    search_vector = models.GeneratedField(
        expression=SearchVector(
            "customer_id", "first_name", "last_name", weight="A", config=SEARCH_CONFIG
        )
        + SearchVector("phone_number", weight="B", config=SEARCH_CONFIG)
        + SearchVector("address_text", weight="C", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
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
            # ?ordering=birthday and ?ordering=points for the keyset: NULLs included, so
            # that every page is one range of one index (see SORT_KEYS). The key index
            # replaces step 04's (birthday, id): the workload's birthday filters walk the
            # ordering's index instead, and nothing else read it.
            models.Index(SORT_KEYS["birthday"], F("id"), name="app_user_birthday_key_idx"),
            models.Index(SORT_KEYS["points"], F("id"), name="app_user_points_key_idx"),
            # ?first_name= / ?last_name=: UPPER(col::text) LIKE UPPER('ad%'), the
            # istartswith lookup. The index must hold the same expression; the pattern
            # opclass lets LIKE 'prefix%' use it whatever the database's collation. Since
            # the three-letter indexes below, it serves the prefixes that are rare, such
            # as a whole surname: their few matches are fetched from it and sorted.
            models.Index(
                OpClass(Upper("first_name"), name="text_pattern_ops"),
                name="app_user_first_name_upper_idx",
            ),
            models.Index(
                OpClass(Upper("last_name"), name="text_pattern_ops"),
                name="app_user_last_name_upper_idx",
            ),
            # ?first_name= / ?last_name= of three letters or more (filters.name_prefix):
            # LEFT(UPPER(name), 3) = 'PET' is one value of each of these, read in the
            # default order or in that name's own order, and a page stops with its 21st
            # row. Under another order the value's rows are few enough to sort.
            models.Index(
                Left(Upper("first_name"), 3),
                F("created"),
                F("id"),
                name="app_user_first3_created_idx",
            ),
            models.Index(
                Left(Upper("first_name"), 3),
                F("first_name"),
                F("id"),
                name="app_user_first3_name_idx",
            ),
            models.Index(
                Left(Upper("last_name"), 3),
                F("created"),
                F("id"),
                name="app_user_last3_created_idx",
            ),
            models.Index(
                Left(Upper("last_name"), 3), F("last_name"), F("id"), name="app_user_last3_name_idx"
            ),
            # ?city= under the default order: UPPER(address_city) = UPPER('paris') ORDER BY
            # created DESC, id DESC is one range of this index, read backwards, that stops
            # after the page, however few of the table's customers live there. Under
            # another order the same index hands a rare city's rows to a sort of those
            # rows alone.
            models.Index(
                Upper("address_city"), F("created"), F("id"), name="app_user_city_created_idx"
            ),
            # ?country= likewise, and a country with a rarer filter beside it: the
            # country's range is walked in order and the other filter tested on each row.
            models.Index(
                Upper("address_country"),
                F("created"),
                F("id"),
                name="app_user_country_created_idx",
            ),
            # ?country= with ?gender=: the pair's matches are one range of this index,
            # read in the default order, or fetched alone and sorted under another. A
            # walk of the order's index for country=spain&gender=other read 8,700 rows
            # for its 21 (a rare gender in a small country), whatever the table's size.
            models.Index(
                Upper("address_country"),
                F("gender"),
                F("created"),
                F("id"),
                name="app_user_country_gender_idx",
            ),
            # ?points_min= / ?points_max= and ?birthday_after= / ?birthday_before=: a
            # range of the column itself. A range of the ordering's key instead
            # (COALESCE(points, 2^31)) would reuse the key index, but that key holds a
            # NULL value beyond every real one, and a range past the last real value was
            # planned as if it held those rows: ?points_min=49999, which matches no one,
            # walked the whole created index expecting 9,000 matches.
            models.Index(fields=["points"], name="app_user_points_idx"),
            # Birthday first, so that a birth year alone is one range of it on every
            # PostgreSQL (only 18 can skip a leading column); gender second, so that
            # ?gender=other with a year is tested inside the index and only that year's
            # 3 % are fetched (a walk of the created index read 34,000 rows for it).
            models.Index(fields=["birthday", "gender"], name="app_user_birthday_gender_idx"),
            # ?search=: search_vector @@ query. A GIN index maps each word to the rows
            # holding it, so a search reads the rows that match instead of every row.
            GinIndex(fields=["search_vector"], name="app_user_search_idx"),
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
        # No index: ?points_min= / ?points_max= and ?ordering=points read app_user.points.

    def __str__(self) -> str:
        return f"{self.appuser_id}: {self.points} points"
