"""Re-sending failed outbound messages, once each, through the normal send path.

A retry is a new "MessageLog" row (same org, sender, recipient and text) with
metadata.retryOf = the original, and the original gets metadata.retriedBy = the retry. Both
writes and the send job commit in one transaction under the original's row lock, so:
* a message with a retry (in flight, delivered or failed) is never re-sent again: its retry is
  the one that may be retried next, if its own failure is retryable;
* two retry runs at once cannot both re-send the same message;
* the retry passes the guards like any send (kill switch, org disable, opt-out).
Retrying is bounded per lineage by the catalogue's max_retries for the code (e.g. 30008);
`ignore_budget` re-sends the exhausted ones once more, on an operator's explicit word.

A retry never re-sends into a cause that is still failing (`refuse_still_failing`): where a
code to retry failed in the last STILL_FAILING_SECONDS, in the same org, sender and destination
country, and nothing of that scope got through since, its messages are refused with that
reason; re-sending them would fail again and spend their budget. `probe` re-sends just one
message (the newest) whatever the state: the evidence that the fix worked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smsrelay.domain import catalogue
from smsrelay.domain import ids, phone
from smsrelay.service.operations import incident
from smsrelay.service import audit
from smsrelay.service import jobs
from smsrelay.service import problems
from smsrelay.service.runtime import Runtime
from smsrelay.store import sql

MAX_MESSAGES = 10_000
STILL_FAILING_SECONDS = 900


def retryable_codes() -> list[str]:
    return [str(code) for code, entry in catalogue.CATALOGUE.items() if entry.retryable]


def parse_codes(text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    codes = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in codes if not c.isdigit()]
    if bad:
        raise problems.INVALID_CODES(codes=", ".join(bad))
    return list(dict.fromkeys(codes))


@dataclass
class RetryPlan:
    window: dict[str, Any]
    codes: list[str]
    forced: list[str]  # named codes the catalogue says not to retry
    eligible: list[dict[str, Any]] = field(default_factory=list)
    exhausted: list[dict[str, Any]] = field(default_factory=list)
    # Refused: their cause still fails in their scope (message row, the reason why).
    still_failing: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    ignore_budget: bool = False
    probe: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "codes": self.codes, "forced": self.forced,
                "ignoreBudget": self.ignore_budget, "probe": self.probe,
                "eligible": [_public(r) for r in self.eligible],
                "skipped": [{**_public(r), "reason": "retry budget used up (--ignore-budget re-sends it once more)"}
                            for r in self.exhausted]
                + [{**_public(r), "reason": why} for r, why in self.still_failing]}

    def refusal(self) -> str | None:
        """Why nothing is re-sent, when the only thing in the way is a cause still failing."""
        if self.eligible or not self.still_failing:
            return None
        return self.still_failing[0][1] + "; fix the cause first (smsrelay incident diagnose), or re-send one message as a probe with --probe"


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "orgId": row["orgId"], "from": row["from"], "to": phone.mask(row["to"]),
            "status": row["status"], "code": row["code"], "generation": row["generation"],
            "createdAt": incident.iso(row["createdAt"])}


def _budget(code: str, forced: bool) -> int:
    entry = catalogue.lookup(code)
    if entry is not None and entry.retryable:
        return entry.max_retries
    return 1 if forced else 0


async def plan(rt: Runtime, *, since: str = "1h", org_id: str | None = None, codes: list[str] | None = None,
               force: bool = False, ignore_budget: bool = False, refuse_still_failing: bool = False,
               probe: bool = False) -> RetryPlan:
    """What a retry would send. Non-retryable codes must be named in `codes` and forced."""
    wanted = codes or retryable_codes()
    forced = [c for c in wanted if not catalogue.is_retryable(c)]
    if forced and not force:
        raise problems.NOT_RETRYABLE(codes=", ".join(forced))
    async with rt.pool.connection() as conn:
        w = await incident.window(conn, since)
        await incident.check_org(conn, org_id)
        rows = await sql.all(conn, "retry_candidates", org_id=org_id, codes=wanted, limit=MAX_MESSAGES, **w.params())
        failing = (await sql.all(conn, "retry_still_failing", org_id=org_id, codes=wanted,
                                 within=STILL_FAILING_SECONDS) if refuse_still_failing and not probe else [])
    scopes = {(f["orgId"], f["sender"], f["country"], f["code"]): f for f in failing}
    result = RetryPlan(window=w.to_dict(), codes=wanted, forced=forced, ignore_budget=ignore_budget, probe=probe)
    for row in rows:
        within = row["generation"] < _budget(row["code"], row["code"] in forced)
        if not within and not ignore_budget:
            result.exhausted.append(row)
            continue
        f = scopes.get((row["orgId"], row["from"] or "", row.get("country") or "", row["code"]))
        if f is not None:
            result.still_failing.append((row, _still_failing(f)))
        else:
            result.eligible.append(row)
    if probe:
        result.eligible = sorted(result.eligible, key=lambda r: r["createdAt"])[-1:]
    return result


def _still_failing(f: dict[str, Any]) -> str:
    where = f"org {f['orgId']}" + (f", sender {f['sender']}" if f["sender"] else "") + (
        f", country {f['country']}" if f["country"] else "")
    return (f"{f['code']} is still failing at {where}: last failure {f['age_s']:.0f} s ago "
            f"({incident.iso(f['last_at'])}) and nothing of that scope got through since")


@dataclass(frozen=True)
class Retried:
    original: str
    retry: str | None  # None: someone else retried it first


async def execute(rt: Runtime, p: RetryPlan, *, actor: str,
                  progress: Callable[[Retried], None] | None = None, reason: str | None = None) -> list[Retried]:
    reason = audit.clean_reason(reason)  # the operator's why (the dashboard's form): refused before any send
    done: list[Retried] = []
    async with rt.pool.connection() as conn:
        for row in p.eligible:
            async with conn.transaction():
                new_id = None
                if await sql.one(conn, "retry_lock_original", id=row["id"]) is not None:
                    new_id = ids.new_id("msg")
                    await sql.one(conn, "retry_insert", id=row["id"], new_id=new_id, metadata={
                        "attempts": 0, "retryOf": row["id"], "retryGeneration": row["generation"] + 1,
                        "retryReason": row["code"], "retriedByActor": actor})
                    await sql.execute(conn, "merge_metadata", id=row["id"], metadata={"retriedBy": new_id})
                    await jobs.enqueue_send(conn, new_id)
            item = Retried(row["id"], new_id)
            done.append(item)
            if progress is not None:
                progress(item)
        sent = [d for d in done if d.retry]
        if sent:
            await sql.execute(conn, "insert_audit", table_name="MessageLog", org_id=None, action="retry", actor=actor,
                              reason=(f"{reason} — " if reason else "")
                              + f"retry of {len(sent)} message(s) with codes {', '.join(p.codes)}",
                              before=None, after={"window": p.window, "codes": p.codes, "forced": p.forced,
                                                  "retried": len(sent)})
            await conn.commit()
    return done
