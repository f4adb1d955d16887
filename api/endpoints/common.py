"""Plumbing shared by the endpoint modules."""

from __future__ import annotations

import math

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404
from ninja.responses import codes_4xx

from api.errors import ErrorOut

ERRORS = {codes_4xx: ErrorOut}
PAGE_SIZE = 50


def or_404(fetch, *args):
    """A permission-checked selector; DoesNotExist (another user's id, or no
    such row) becomes 404, so ids reveal nothing."""
    try:
        return fetch(*args)
    except (ObjectDoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404 from None


def paginate(queryset, page: int, page_size: int = PAGE_SIZE) -> tuple[list, dict]:
    paginator = Paginator(queryset, page_size)
    count = paginator.count
    pages = max(1, math.ceil(count / page_size))
    page = min(max(1, page), pages)
    items = list(paginator.page(page).object_list)
    return items, {"count": count, "page": page, "pages": pages}
