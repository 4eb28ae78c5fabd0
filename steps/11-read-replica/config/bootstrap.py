"""The composition root: every binding of the app, in kink's container, and only here.

django-ninja-extra builds controllers with injector. KinkModule makes injector ask kink
for any type kink knows, so injector holds no bindings of ours: one container, one place
to read what implements what (tests/test_bootstrap.py fails on a binding made anywhere
else).
"""

from injector import Binder, Module, Provider
from kink import Container, di

from crm.application.customers import CustomerService
from crm.application.ports import CustomerRepository, ResponseCache, UnitOfWork
from crm.infrastructure import signals
from crm.infrastructure.cache import RedisResponseCache
from crm.infrastructure.repository import OrmCustomerRepository
from crm.infrastructure.unit_of_work import DjangoUnitOfWork


def bind(container: Container = di) -> None:
    # Each a lambda: kink builds it on first use and keeps that one (a singleton).
    container[CustomerRepository] = lambda c: OrmCustomerRepository()
    container[UnitOfWork] = lambda c: DjangoUnitOfWork()
    container[ResponseCache] = lambda c: RedisResponseCache()
    container[CustomerService] = lambda c: CustomerService(c[CustomerRepository], c[UnitOfWork])


def connect(container: Container = di) -> None:
    """Every ORM save and delete invalidates the cache bound above, whoever makes it
    (crm/infrastructure/signals.py); once per process."""
    signals.connect(container[ResponseCache])


class FromKink(Provider):
    """What kink holds for ``interface``, handed to injector as it is.

    Not a CallableProvider: injector calls that through its own injection, reading the
    callable's signature again on every call, and ninja-extra builds two controllers
    per request.
    """

    def __init__(self, interface: type):
        self.interface = interface

    def get(self, injector):
        return di[self.interface]


class KinkModule(Module):
    """Installed into ninja-extra's injector (settings.NINJA_EXTRA): a type injector
    has no binding for is looked up in kink before injector would build one itself."""

    def configure(self, binder: Binder) -> None:
        create_binding = binder.create_binding

        def from_kink(interface, to=None, scope=None):
            if to is None and interface in di:
                to = FromKink(interface)
            return create_binding(interface, to, scope)

        binder.create_binding = from_kink
