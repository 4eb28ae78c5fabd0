"""Page-number pagination: a COUNT(*) and an OFFSET per page, as in step 01."""

import math
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from ninja.errors import ValidationError

PAGE = "page"


def page_url(request, number: int | None) -> str:
    """The current URL with ``page`` set (``None`` drops it, as DRF does for page 1)."""
    parts = urlsplit(request.build_absolute_uri())
    query = parse_qs(parts.query, keep_blank_values=True)
    query.pop(PAGE, None)
    if number is not None:
        query[PAGE] = [str(number)]
    return urlunsplit(parts._replace(query=urlencode(sorted(query.items()), doseq=True)))


async def paginate(request, queryset, page: int, page_size: int) -> dict:
    count = await queryset.acount()
    pages = max(1, math.ceil(count / page_size))
    if page > pages:
        raise ValidationError(
            [{"loc": ("query", PAGE), "msg": "Invalid page.", "type": "invalid_page"}]
        )
    offset = (page - 1) * page_size
    rows = [row async for row in queryset[offset : offset + page_size]]
    return {
        "count": count,
        "next": page_url(request, page + 1) if page < pages else None,
        "previous": page_url(request, page - 1 if page > 2 else None) if page > 1 else None,
        "results": rows,
    }
