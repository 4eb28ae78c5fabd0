"""The ORM's saves and deletes bump the response cache when they commit (crm.cache)."""

from django.db.models.signals import post_delete, post_save, pre_delete
from django.dispatch import receiver

from crm import cache
from crm.models import Address, Customer, CustomerRelationship


@receiver([post_save, post_delete], sender=Customer)
def customer_written(sender, instance, **kwargs):
    cache.invalidate(instance.pk)


@receiver([post_save, post_delete], sender=CustomerRelationship)
def relationship_written(sender, instance, **kwargs):
    cache.invalidate(instance.appuser_id)


@receiver(post_save, sender=Address)
def address_written(sender, instance, created, **kwargs):
    # A new address has no customer yet: the customer that takes it is saved, and that
    # save bumps. An edited one changes every customer on it.
    if not created:
        cache.invalidate(*customers_on(instance))


@receiver(pre_delete, sender=Address)
def address_deleted(sender, instance, **kwargs):
    # Asked before the delete: Django then sets the customers' address to NULL with an
    # UPDATE that sends no signal.
    cache.invalidate(*customers_on(instance))


def customers_on(address) -> list[int]:
    return list(Customer.objects.filter(address_id=address.pk).values_list("pk", flat=True))
