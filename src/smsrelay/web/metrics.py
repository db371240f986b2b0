"""GET /metrics: Prometheus text format, every value read from PostgreSQL at scrape time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST

from smsrelay.service.operations import metrics
from smsrelay.service.runtime import Runtime
from smsrelay.web.deps import runtime

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(rt: Annotated[Runtime, Depends(runtime)]) -> Response:
    return Response(await metrics.scrape(rt), media_type=CONTENT_TYPE_LATEST)
