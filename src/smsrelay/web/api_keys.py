"""An org's own API keys (service/tenancy/self_service.py): list (never a secret), create (the
key shown once), revoke (not the org's last active key: 409 last_api_key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from smsrelay.service.tenancy import orgs, self_service
from smsrelay.web import deps
from smsrelay.web.deps import Conn, OrgId
from smsrelay.web.problem_docs import errors_for

router = APIRouter(prefix="/v1", tags=["api-keys"])


async def calling_key_id(request: Request, token: Annotated[str, Depends(deps.api_key)], conn: Conn) -> str | None:
    key = await deps.tenancy_cache(request.app.state.runtime).key(conn, orgs.hash_key(token))
    return key["id"] if key else None


class ApiKey(BaseModel):
    id: str
    name: str | None
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    createdAt: str
    revokedAt: str | None
    current: bool = Field(description="The key this request was made with")


class ApiKeyList(BaseModel):
    apiKeys: list[ApiKey] = Field(description="Oldest first, revoked ones included")


class NewApiKey(ApiKey):
    apiKey: str = Field(description="The key itself: shown this once, only its hash is kept")


class NewApiKeyRequest(BaseModel):
    name: str | None = Field(default=None, max_length=100, description="A label, e.g. where the key is used")


@router.get("/api-keys", response_model=ApiKeyList, responses=errors_for())
async def list_api_keys(org_id: OrgId, conn: Conn,
                        current: Annotated[str | None, Depends(calling_key_id)]) -> dict:
    """This org's keys (ids, labels, prefixes, dates), never the keys themselves."""
    return await self_service.list_keys(conn, org_id, current)


@router.post("/api-keys", status_code=201, response_model=NewApiKey, responses=errors_for(body=True))
async def create_api_key(org_id: OrgId, conn: Conn, req: NewApiKeyRequest | None = None) -> dict:
    """A new key for this org; the response is the only time the key is shown."""
    return await self_service.create_key(conn, org_id, req.name if req else None)


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response,
               responses=errors_for("not_found", "last_api_key"))
async def revoke_api_key(key_id: str, org_id: OrgId, conn: Conn) -> Response:
    """Revoke a key at once (its next request is a 401). The org's last active key cannot be
    revoked here (409 last_api_key): create its replacement first. An operator can revoke any
    key with `smsrelay org key revoke`."""
    await self_service.revoke_key(conn, org_id, key_id)
    return Response(status_code=204)
