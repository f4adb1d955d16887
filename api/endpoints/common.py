"""Plumbing shared by the endpoint modules."""

from __future__ import annotations

import math
import re
from typing import Annotated

from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.http import Http404
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from api.errors import ErrorOut

# Every answer an endpoint may give besides its success (README "Errors").
ERRORS = {frozenset({400, 401, 403, 404, 409, 422, 429}): ErrorOut}
PAGE_SIZE = 50


def _whole_number(value):
    """A query parameter's text must be a whole number: pydantic would take
    "300.0" for 300, which the schema (type integer) does not allow."""
    if isinstance(value, str) and not _DIGITS.fullmatch(value.strip()):
        raise PydanticCustomError(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    return value


_DIGITS = re.compile(r"[+-]?\d+")
# An integer query parameter (page, team).
QueryInt = Annotated[int, BeforeValidator(_whole_number)]


def or_404(fetch, *args):
    """A permission-checked selector; DoesNotExist (another user's id, or no
    such row) becomes 404, so ids reveal nothing."""
    try:
        return fetch(*args)
    except (ObjectDoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404 from None


def by_pk(model):
    """A fetch for or_404 of any row of ``model`` by id (staff endpoints)."""
    return lambda pk: model.objects.get(pk=pk)


def paginate(queryset, page: int, page_size: int = PAGE_SIZE) -> tuple[list, dict]:
    paginator = Paginator(queryset, page_size)
    count = paginator.count
    pages = max(1, math.ceil(count / page_size))
    page = min(max(1, page), pages)
    items = list(paginator.page(page).object_list)
    return items, {"count": count, "page": page, "pages": pages}
