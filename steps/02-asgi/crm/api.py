"""The HTTP API: async django-ninja operations over the async ORM."""

import psycopg
from asgiref.sync import sync_to_async
from django.db import DatabaseError, connection
from django.http import Http404, JsonResponse
from django.views.decorators.http import require_safe
from ninja import NinjaAPI, Query, Status

from crm import errors, selectors, services
from crm.models import Customer
from crm.pagination import paginate
from crm.parsers import JSONParser
from crm.renderers import CompactJSONRenderer
from crm.schemas import CustomerIn, CustomerOut, CustomerPage, CustomerPatch, CustomerQuery

api = NinjaAPI(
    title="CRM customers API",
    description="The customers API of the Django performance ladder (step.toml names the step).",
    version="1.0.0",
    parser=JSONParser(),
    renderer=CompactJSONRenderer(),
    openapi_url="/openapi.json",
    docs_url="/docs/",
)
errors.register(api)


@api.get("/customers/", response={200: CustomerPage, **errors.READING})
async def customer_list(request, params: Query[CustomerQuery]):
    page = await paginate(request, selectors.customer_list(params), params.page, params.page_size)
    page["results"] = [await selectors.customer_out(customer) for customer in page["results"]]
    return page


@api.post("/customers/", response={201: CustomerOut, **errors.CREATING})
async def customer_create(request, payload: CustomerIn):
    customer = await sync_to_async(services.customer_create)(payload)
    return Status(201, await selectors.customer_out(customer))


@api.get("/customers/{int:id}/", response={200: CustomerOut, **errors.ONE})
async def customer_detail(request, id: int):
    try:
        customer = await Customer.objects.aget(pk=id)
    except Customer.DoesNotExist:
        raise Http404 from None
    return await selectors.customer_out(customer)


@api.patch("/customers/{int:id}/", response={200: CustomerOut, **errors.CHANGING})
async def customer_update(request, id: int, payload: CustomerPatch):
    customer = await sync_to_async(services.customer_update)(id, payload)
    return await selectors.customer_out(customer)


@api.delete("/customers/{int:id}/", response={204: None, **errors.ONE})
async def customer_delete(request, id: int):
    deleted, _ = await Customer.objects.filter(pk=id).adelete()
    if not deleted:
        raise Http404
    return Status(204, None)


HEALTH_TIMEOUT = 1.0


def ping() -> None:
    # Straight from the pool with a short wait: a health check must answer quickly when
    # the database is down, not after a request's full POOL_TIMEOUT.
    pool = connection.pool
    pool.open()
    with pool.connection(timeout=HEALTH_TIMEOUT) as conn:
        conn.execute("SELECT 1")


@require_safe
async def health(request):
    try:
        await sync_to_async(ping)()
    except (DatabaseError, psycopg.Error):
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
