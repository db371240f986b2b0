"""An org's own opt-out list (service/tenancy/self_service.py): list, add (the API's STOP),
remove (the API's START). Numbers are normalised as a send's `to` is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from smsrelay.service.tenancy import self_service
from smsrelay.web.deps import Conn, OrgId
from smsrelay.web.problem_docs import errors_for

router = APIRouter(prefix="/v1", tags=["opt-outs"])


class OptOutRequest(BaseModel):
    phone: str = Field(description="The number, E.164 or national format in the org's default region",
                       json_schema_extra={"minLength": 1, "maxLength": 64, "examples": ["+14155552671"]})


class OptOut(BaseModel):
    phone: str = Field(description="E.164")
    source: str = Field(description="Who opted it out: api, inbound:<keyword> (a STOP reply), twilio:21610")
    createdAt: str


class OptOutPage(BaseModel):
    optOuts: list[OptOut] = Field(description="By number")
    nextCursor: str | None = Field(description="Pass as `after` for the next page; null on the last page")


@router.get("/opt-outs", response_model=OptOutPage, responses=errors_for("invalid_cursor", "invalid_request"))
async def list_opt_outs(org_id: OrgId, conn: Conn,
                        after: Annotated[str | None, Query(description="A page's nextCursor", max_length=512)] = None,
                        limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    """The numbers this org does not send to, by number, `limit` a page."""
    return await self_service.list_opt_outs(conn, org_id, after=after, limit=limit)


@router.post("/opt-outs", status_code=201, response_model=OptOut,
             responses={200: {"model": OptOut, "description": "Already opted out: the existing entry"},
                        **errors_for("invalid_to_number", body=True)})
async def add_opt_out(req: OptOutRequest, org_id: OrgId, conn: Conn):
    """Stop sending to a number, as if it had replied STOP: sends to it are refused
    (recipient_opted_out) and queued messages to it fail at dispatch (21610)."""
    created, row = await self_service.add_opt_out(conn, org_id, req.phone)
    return JSONResponse(status_code=201 if created else 200, content=row)


@router.delete("/opt-outs/{phone}", status_code=204, response_class=Response,
               responses=errors_for("not_found", "invalid_to_number"))
async def remove_opt_out(phone: Annotated[str, Path(description="The number (URL-encode the '+' as %2B or not)")],
                         org_id: OrgId, conn: Conn) -> Response:
    """Send to a number again, as if it had replied START."""
    await self_service.remove_opt_out(conn, org_id, phone)
    return Response(status_code=204)
