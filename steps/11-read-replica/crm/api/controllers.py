"""The HTTP API: thin django-ninja-extra controllers that map schemas to the use cases.

injector builds each controller; it asks kink for what the controller needs
(config/bootstrap.py), so the use case and the cache are the ones bound there.
"""

from asgiref.sync import sync_to_async
from django.http import HttpResponse
from ninja import Query, Status
from ninja_extra import api_controller, http_delete, http_get, http_patch, http_post

from crm.api import cursors, errors
from crm.api.permissions import Anyone
from crm.api.renderers import RENDERER
from crm.api.schemas import CustomerIn, CustomerOut, CustomerPage, CustomerPatch, CustomerQuery
from crm.application.customers import CustomerService
from crm.application.ports import ResponseCache

# Documented, so that a schema-driven client knows the header (docs/api-contract.md).
X_CACHE = {
    "responses": {
        200: {
            "headers": {
                "X-Cache": {
                    "description": "`hit`: the body came from the cache; `miss`: from PostgreSQL.",
                    "schema": {"type": "string", "enum": ["hit", "miss"]},
                }
            }
        }
    }
}


def respond(body: bytes, hit: bool) -> HttpResponse:
    response = HttpResponse(body, content_type="application/json")
    response["X-Cache"] = "hit" if hit else "miss"
    return response


@api_controller("/customers", tags=["customers"], permissions=[Anyone])
class CustomerController:
    def __init__(self, customers: CustomerService, cache: ResponseCache):
        self.customers = customers
        self.cache = cache

    def body(self, schema, data) -> bytes:
        """What ninja would send for ``data``, validated by ``schema``: the bytes a hit
        replays."""
        shown = schema.model_validate(data, from_attributes=True).model_dump(mode="json")
        return RENDERER.render(self.context.request, shown, response_status=200)

    @http_get("/", response={200: CustomerPage, **errors.READING}, openapi_extra=X_CACHE)
    async def customer_list(self, params: Query[CustomerQuery]):
        request = self.context.request
        listing = params.listing()
        start, backwards = None, False
        if params.cursor is not None:
            start, backwards = cursors.decode(params.cursor, listing)

        async def render() -> bytes:
            page = await self.customers.customer_list(listing, start, backwards)
            shown = {**cursors.links(request, listing, page), "results": page.customers}
            return self.body(CustomerPage, shown)

        # The page's links are absolute: the host is part of the key.
        shape = {
            **listing.canonical(),
            "cursor": params.cursor,
            "origin": f"{request.scheme}://{request.get_host()}",
        }
        return respond(*await self.cache.listing(shape, render))

    @http_post("/", response={201: CustomerOut, **errors.CREATING})
    async def customer_create(self, payload: CustomerIn):
        customer = await sync_to_async(self.customers.customer_create)(payload.customer())
        return Status(201, customer)

    @http_get("/{int:id}/", response={200: CustomerOut, **errors.ONE}, openapi_extra=X_CACHE)
    async def customer_detail(self, id: int):
        async def render() -> bytes:
            return self.body(CustomerOut, await self.customers.customer_get(id))

        return respond(*await self.cache.customer(id, render))

    @http_patch("/{int:id}/", response={200: CustomerOut, **errors.CHANGING})
    async def customer_update(self, id: int, payload: CustomerPatch):
        return await sync_to_async(self.customers.customer_update)(id, payload.changes())

    @http_delete("/{int:id}/", response={204: None, **errors.ONE})
    async def customer_delete(self, id: int):
        await sync_to_async(self.customers.customer_delete)(id)
        return Status(204, None)
