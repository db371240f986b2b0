"""Operators' API (/admin/v1): what the CLI does, over HTTP. Every route depends on Operator,
so a route added here is denied unless the caller holds the admin token."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from smsrelay.web.deps import operator

router = APIRouter(prefix="/admin/v1", tags=["admin"], dependencies=[Depends(operator)])
