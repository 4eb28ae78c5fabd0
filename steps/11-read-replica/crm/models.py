"""Django loads an app's models from ``crm.models``; they live with the other adapters."""

from crm.infrastructure.models import Address, Customer, CustomerRelationship

__all__ = ["Address", "Customer", "CustomerRelationship"]
