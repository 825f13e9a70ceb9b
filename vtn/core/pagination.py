"""skip/limit exactly as the spec bounds them (limit 0..50, skip ≥ 0); out of range is a 400."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

from openadr3.models import MAX_LIST_LIMIT


@dataclass(frozen=True)
class Page:
    skip: int
    limit: int


async def page_params(
    skip: Annotated[int, Query(ge=0, le=2**31 - 1, description="number of records to skip for pagination.")] = 0,
    limit: Annotated[
        int, Query(ge=0, le=MAX_LIST_LIMIT, description="maximum number of records to return.")
    ] = MAX_LIST_LIMIT,
) -> Page:
    return Page(skip=skip, limit=limit)
