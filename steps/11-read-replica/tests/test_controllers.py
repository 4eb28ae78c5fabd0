"""The controllers, tested asynchronously with ninja-extra's TestAsyncClient, through
the API object so that its error handlers answer as they do in production.

The views' ORM calls run on asgiref's thread, not the test's, so these tests commit
(transaction=True), and the session's one event loop serves them (pytest.ini).
"""

import logging

import pytest
from asgiref.sync import SyncToAsync
from injector import Injector
from ninja_extra.controllers.utils import get_api_controller
from ninja_extra.permissions import AsyncBasePermission
from ninja_extra.testing import TestAsyncClient

from crm.api.app import api
from crm.api.controllers import CustomerController
from crm.api.permissions import Anyone
from tests.conftest import ADDRESS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("connections_closed_afterwards"),
]

BODY = {"customer_id": "CTRL-1", "first_name": "Ada", "last_name": "Lovelace", "address": ADDRESS}
# The test client builds a bare HttpRequest: it says what its body is only if told.
JSON = {"content_type": "application/json"}


@pytest.fixture
def client():
    # The links in a page are absolute: the request needs a host (the client upper-cases
    # no header name, and Django reads META["HTTP_HOST"]).
    return TestAsyncClient(api, headers={"HOST": "testserver"})


async def test_create_then_read_it_back(client):
    created = await client.post("/customers/", json=BODY, **JSON)
    assert created.status_code == 201, created.content
    id = created.json()["id"]
    detail = await client.get(f"/customers/{id}/")
    assert (detail.status_code, detail.json()["customer_id"]) == (200, "CTRL-1")
    listed = await client.get("/customers/", query_params={"search": "lovelace"})
    assert [c["id"] for c in listed.json()["results"]] == [id]


async def test_a_repeated_read_is_a_hit(client):
    id = (await client.post("/customers/", json=BODY, **JSON)).json()["id"]
    first, second = await client.get(f"/customers/{id}/"), await client.get(f"/customers/{id}/")
    assert (first["X-Cache"], second["X-Cache"]) == ("miss", "hit")
    assert first.content == second.content


async def test_a_patch_and_a_delete_show_at_once(client):
    id = (await client.post("/customers/", json=BODY, **JSON)).json()["id"]
    await client.get(f"/customers/{id}/")
    moved = {"address": {**ADDRESS, "city": "Munich"}}
    patched = await client.patch(f"/customers/{id}/", json=moved, **JSON)
    assert patched.json()["address"]["city"] == "Munich"
    assert (await client.get(f"/customers/{id}/")).json()["address"]["city"] == "Munich"
    assert (await client.delete(f"/customers/{id}/")).status_code == 204
    assert (await client.get(f"/customers/{id}/")).status_code == 404


async def test_a_taken_customer_id_is_a_409_naming_it(client):
    await client.post("/customers/", json=BODY, **JSON)
    again = await client.post("/customers/", json=BODY, **JSON)
    assert again.status_code == 409
    assert again.json()["detail"].startswith("customer_id: ")


def test_the_permission_check_never_leaves_the_event_loop():
    # ninja-extra runs a sync permission through sync_to_async: a thread hop per request.
    permissions = get_api_controller(CustomerController).permission_classes
    assert permissions
    assert all(issubclass(permission, AsyncBasePermission) for permission in permissions)


async def test_ninja_extra_sends_no_step_of_a_request_to_a_thread(client, monkeypatch):
    """Reading parameters and rendering wait on nothing (crm/api/operations.py); only
    the ORM's calls, which do, may leave the event loop."""
    hops = []
    hop = SyncToAsync.__init__

    def counted(self, func, *args, **kwargs):
        hops.append(getattr(func, "__module__", None) or "")
        hop(self, func, *args, **kwargs)

    id = (await client.post("/customers/", json=BODY, **JSON)).json()["id"]
    monkeypatch.setattr(SyncToAsync, "__init__", counted)
    for path in ("/customers/", f"/customers/{id}/", "/customers/?page_size=0"):
        await client.get(path)
    assert hops, "the reads' misses query PostgreSQL through the ORM's own hops"
    assert not [module for module in hops if module.startswith(("ninja", "crm"))], hops


async def test_each_request_builds_one_controller(client, monkeypatch):
    """ninja-extra builds one to check permissions and another to run the view, each
    through injector (crm/api/operations.py builds one for both)."""
    built = []
    create = Injector.create_object

    def counted(self, cls, *args, **kwargs):
        built.append(cls)
        return create(self, cls, *args, **kwargs)

    id = (await client.post("/customers/", json=BODY, **JSON)).json()["id"]
    monkeypatch.setattr(Injector, "create_object", counted)
    paths = ("/customers/", f"/customers/{id}/", f"/customers/{id}/", "/customers/?page_size=0")
    for path in paths:
        await client.get(path)
    assert built == [CustomerController] * len(paths)


async def test_a_refused_caller_learns_nothing_from_the_parameters(client, monkeypatch):
    # Permissions are checked before the parameters are read, as ninja-extra does.
    async def refuse(self, request, controller):
        return False

    monkeypatch.setattr(Anyone, "has_permission_async", refuse)
    refused = await client.get("/customers/", query_params={"page_size": "many"})
    assert refused.status_code == 403, refused.content


def test_requests_are_not_logged_one_by_one():
    # ninja-extra logs every request at INFO on django.request, where Django itself
    # only reports errors: a formatted line and a write per request.
    assert not logging.getLogger("django.request").isEnabledFor(logging.INFO)
    assert logging.getLogger("django.request").isEnabledFor(logging.WARNING)
