"""GET /metrics: Prometheus text format, every value read from PostgreSQL (at most once per
METRICS_CACHE_SECONDS per process), behind METRICS_TOKEN when one is set."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from smsrelay.service.operations import metrics
from smsrelay.service import problems
from smsrelay.service.runtime import Runtime
from smsrelay.web.deps import runtime

router = APIRouter(tags=["operations"])


def _check_token(request: Request, expected: str | None) -> None:
    if not expected:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    # Compared as bytes in constant time: the token is what guards balance and spend figures.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise problems.UNAUTHORIZED("metrics")


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Response:
    _check_token(request, rt.settings.metrics_token)
    return Response(await metrics.cached_scrape(rt), media_type=CONTENT_TYPE_LATEST)
