"""The use cases' rules, on in-memory fakes of their ports: no database, no Redis.

Compare their run time with the database-backed tests' on the step's page.
"""

import pytest

from crm.application.customers import CustomerService
from crm.domain.customers import Address, Customer, CustomerId
from crm.domain.errors import CustomerIdTaken, CustomerNotFound
from crm.domain.listing import Listing
from tests.fakes import FakeRepository, FakeUnitOfWork

BERLIN = Address("Invalidenstraße", "117", "10115", "Berlin", "Germany")
MUNICH = Address("Marienplatz", "8", "80331", "Munich", "Germany")


@pytest.fixture
def repository():
    return FakeRepository()


@pytest.fixture
def unit_of_work(repository):
    return FakeUnitOfWork(repository)


@pytest.fixture
def service(repository, unit_of_work):
    return CustomerService(repository, unit_of_work)


def ada(customer_id="C1", address=BERLIN) -> Customer:
    return Customer(CustomerId(customer_id), "Ada", "Lovelace", address=address)


def test_create_stores_the_customer_its_address_and_relationship(service, repository):
    created = service.customer_create(ada())
    assert repository.load(created.id) == created
    assert created.address.id in repository.addresses
    assert created.relationship.points == 0


def test_create_is_one_unit_of_work(service, unit_of_work):
    service.customer_create(ada())
    assert unit_of_work.committed == 1


def test_create_is_atomic_a_taken_customer_id_leaves_nothing(service, repository, unit_of_work):
    service.customer_create(ada("C1"))
    addresses = dict(repository.addresses)
    with pytest.raises(CustomerIdTaken):
        service.customer_create(ada("C1", address=MUNICH))
    assert repository.addresses == addresses
    assert len(repository.customers) == 1
    assert unit_of_work.committed == 1


def test_a_move_gives_a_new_address_and_leaves_the_shared_one(service, repository):
    first = service.customer_create(ada("C1"))
    second = service.customer_create(ada("C2", address=first.address))
    moved = service.customer_update(first.id, {"address": MUNICH})
    assert moved.address.id not in (None, first.address.id)
    assert (moved.address.city, repository.load(second.id).address) == ("Munich", first.address)


def test_an_address_sent_with_an_id_is_still_a_new_address(service):
    first = service.customer_create(ada("C1"))
    moved = service.customer_update(first.id, {"address": first.address})
    assert moved.address.id != first.address.id


def test_update_changes_only_what_it_is_given(service, unit_of_work):
    created = service.customer_create(ada())
    updated = service.customer_update(created.id, {"last_name": "Byron"})
    assert (updated.last_name, updated.first_name, updated.address) == (
        "Byron",
        "Ada",
        created.address,
    )
    assert unit_of_work.committed == 2


def test_an_update_that_fails_commits_nothing_and_changes_nothing(
    service, repository, unit_of_work
):
    service.customer_create(ada("C1"))
    second = service.customer_create(ada("C2"))
    with pytest.raises(CustomerIdTaken):
        service.customer_update(second.id, {"customer_id": CustomerId("C1"), "address": MUNICH})
    assert repository.load(second.id) == second
    assert len(repository.addresses) == 2
    assert unit_of_work.committed == 2


def test_a_missing_customer_is_not_found_and_commits_nothing(service, unit_of_work):
    with pytest.raises(CustomerNotFound):
        service.customer_update(404, {"last_name": "Byron"})
    with pytest.raises(CustomerNotFound):
        service.customer_delete(404)
    assert unit_of_work.committed == 0


def test_delete_removes_in_one_unit_of_work(service, repository, unit_of_work):
    created = service.customer_create(ada())
    service.customer_delete(created.id)
    with pytest.raises(CustomerNotFound):
        repository.load(created.id)
    assert unit_of_work.committed == 2


async def test_reads_go_to_the_repository(service):
    created = service.customer_create(ada())
    assert await service.customer_get(created.id) == created
    page = await service.customer_list(Listing(page_size=5))
    assert page.customers == [created]
