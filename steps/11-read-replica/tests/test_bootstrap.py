"""One container, one place: every binding is made in config/bootstrap.py, in kink."""

import ast
from pathlib import Path

from django.db.models.signals import post_delete, post_save, pre_delete
from injector import ImplicitBinding
from kink import Container, di
from ninja_extra.dependency_resolver import get_injector

from config import bootstrap
from crm.application.customers import CustomerService
from crm.application.ports import ResponseCache
from crm.infrastructure.models import Address, Customer, CustomerRelationship

STEP = Path(__file__).resolve().parent.parent
BOOTSTRAP = STEP / "config" / "bootstrap.py"


CONTAINERS = {"di", "container"}


def named(node) -> str | None:
    return getattr(node, "id", getattr(node, "attr", None))


def bindings_in(path: Path) -> list[str]:
    """Where ``path`` binds something: an item set on kink's container, injector's
    ``binder.bind()``, or an ``@inject`` (kink's registers the class it decorates)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Subscript) and named(t.value) in CONTAINERS for t in targets):
            found.append(f"{path.name}:{node.lineno}: container item")
        if (
            isinstance(node, ast.Call)
            and named(node.func) in ("bind", "multibind")
            and named(getattr(node.func, "value", None)) == "binder"
        ):
            found.append(f"{path.name}:{node.lineno}: binder.bind()")
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                call = decorator.func if isinstance(decorator, ast.Call) else decorator
                if named(call) == "inject":
                    found.append(f"{path.name}:{node.lineno}: @inject")
    return found


def test_no_binding_is_made_outside_bootstrap():
    sources = [p for p in [*STEP.glob("crm/**/*.py"), *STEP.glob("config/*.py")] if p != BOOTSTRAP]
    made = [where for path in sources for where in bindings_in(path)]
    assert made == []


def test_the_scan_sees_the_bindings_bootstrap_makes():
    assert len(bindings_in(BOOTSTRAP)) == 4


def test_kink_holds_what_bootstrap_binds_and_nothing_else():
    fresh = Container()
    bootstrap.bind(fresh)
    assert set(fresh._services) | set(fresh._factories) == set(di._services) | set(di._factories)


def test_injector_holds_no_binding_of_ours():
    ours = [
        interface
        for interface, binding in get_injector().binder._bindings.items()
        if getattr(interface, "__module__", "").startswith(("crm", "config"))
        and not isinstance(binding, ImplicitBinding)
    ]
    assert ours == []


def test_injector_hands_out_what_kink_built():
    assert get_injector().get(CustomerService) is di[CustomerService]
    assert get_injector().get(ResponseCache) is di[ResponseCache]


def test_injector_takes_kinks_objects_without_injecting_into_a_callable():
    # A CallableProvider would make injector read a signature on every controller built.
    binding, _ = get_injector().binder.get_binding(CustomerService)
    assert isinstance(binding.provider, bootstrap.FromKink)


def listening() -> list[int]:
    pairs = [
        (post_save, Customer), (post_delete, Customer),
        (post_save, CustomerRelationship), (post_delete, CustomerRelationship),
        (post_save, Address), (pre_delete, Address),
    ]  # fmt: skip
    return [len(signal._live_receivers(model)[0]) for signal, model in pairs]


def test_the_orm_signals_are_wired_once_however_often_the_app_is_set_up():
    assert listening() == [1] * 6
    fresh = Container()
    bootstrap.bind(fresh)
    bootstrap.connect(fresh)
    assert listening() == [1] * 6
