"""The customer use cases (HackSoftware style: ``customer_list``, ``customer_create``…).

No cache here: the ORM adapter invalidates on every save and delete, whoever writes
(crm/infrastructure/signals.py), so a use case cannot forget to, and neither can a shell.
"""

from __future__ import annotations

from crm.application.ports import CustomerRepository, UnitOfWork
from crm.domain.customers import Customer
from crm.domain.errors import CustomerNotFound
from crm.domain.listing import Listing, Page, Position


class CustomerService:
    def __init__(self, repository: CustomerRepository, unit_of_work: UnitOfWork):
        self.repository = repository
        self.unit_of_work = unit_of_work

    async def customer_list(
        self, listing: Listing, start: Position | None = None, backwards: bool = False
    ) -> Page:
        return await self.repository.page(listing, start, backwards)

    async def customer_get(self, id: int) -> Customer:
        return await self.repository.get(id)

    def customer_create(self, customer: Customer) -> Customer:
        # One unit of work: an address without its customer, or a customer without its
        # relationship, is never left behind.
        with self.unit_of_work():
            created = self.repository.add(customer)
        return created

    def customer_update(self, id: int, changes: dict) -> Customer:
        with self.unit_of_work():
            # Customer.changed gives a moved customer a new address: others share the old.
            customer = self.repository.save(self.repository.load(id).changed(**changes))
        return customer

    def customer_delete(self, id: int) -> None:
        with self.unit_of_work():
            if not self.repository.delete(id):
                raise CustomerNotFound(id)
