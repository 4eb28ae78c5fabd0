"""The ORM's saves and deletes invalidate the response cache, whoever makes them.

An adapter: Django's model signals in, the ResponseCache port out, as step 07's
crm/signals.py. The API's use cases, ``manage.py shell``, a management command, a data
migration or the admin all write through the ORM, so each of them invalidates what it
changes, once the write commits; the domain and the use cases know nothing of it.

``QuerySet.update()``, ``bulk_create``/``bulk_update`` and raw SQL send no signal: code
that writes so calls ``ResponseCache.invalidate()`` itself, or readers see the old
answer until the entry's timeout (settings.CACHES).
"""

from django.db.models.signals import post_delete, post_save, pre_delete

from crm.application.ports import ResponseCache
from crm.infrastructure.models import Address, Customer, CustomerRelationship


def connect(cache: ResponseCache) -> None:
    """Once per process: a second call connects nothing, and the receivers keep the
    first cache (one bump per write, however often the app is set up)."""

    def customer_written(sender, instance, **kwargs):
        cache.invalidate(instance.pk)

    def relationship_written(sender, instance, **kwargs):
        cache.invalidate(instance.appuser_id)

    def address_written(sender, instance, created, **kwargs):
        # A new address has no customer yet: the customer that takes it is saved, and
        # that save invalidates. An edited one changes every customer on it.
        if not created:
            cache.invalidate(*customers_on(instance))

    def address_deleted(sender, instance, **kwargs):
        # Asked before the delete: Django then sets the customers' address to NULL with
        # an UPDATE that sends no signal.
        cache.invalidate(*customers_on(instance))

    # Closures, so held strongly; the dispatch_uid connects each once however often
    # this runs.
    receivers = [
        (post_save, Customer, customer_written),
        (post_delete, Customer, customer_written),
        (post_save, CustomerRelationship, relationship_written),
        (post_delete, CustomerRelationship, relationship_written),
        (post_save, Address, address_written),
        (pre_delete, Address, address_deleted),
    ]
    for signal, model, receiver in receivers:
        signal.connect(receiver, sender=model, weak=False, dispatch_uid=receiver.__name__)


def customers_on(address) -> list[int]:
    return list(Customer.objects.filter(address_id=address.pk).values_list("pk", flat=True))
