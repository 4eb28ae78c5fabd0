"""/api/health/: is the database there, and the cache?"""

import psycopg
from asgiref.sync import sync_to_async
from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.http import require_safe
from kink import di

from crm.application.ports import ResponseCache
from crm.infrastructure.database import ping


@require_safe
async def health(request):
    # The cache is an accelerator: without it the API still answers, from PostgreSQL.
    cache_status = await di[ResponseCache].status()
    try:
        await sync_to_async(ping)()
    except (DatabaseError, psycopg.Error):
        return JsonResponse(
            {"status": "unavailable", "database": "unreachable", "cache": cache_status},
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok", "cache": cache_status})
