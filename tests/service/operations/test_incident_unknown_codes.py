"""Acceptance (issue 19): a burst of an uncatalogued code at one org is diagnosed as its own
incident naming the code and the org; ordinary noise still gives no incident. Real
"MessageLog" rows and rollup, the service's own queries; the same hours a week back are the
baseline."""

from __future__ import annotations

from tests.support.incident import history, make_orgs, with_runtime


def diagnose(stack) -> dict:
    """Without Twilio's number checks: the simulator does not own these test numbers, which
    would name a sender cause of its own; this is about codes."""
    from smsrelay.service.operations import incident

    return with_runtime(stack, lambda rt: incident.diagnose(rt, "1h", live=False))


def _failures(stack, org: dict, code: str, n: int, *, days_ago: int = 0, tag: str = "") -> None:
    stack.sql("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "metadata",
                                  "createdAt", "finalAt")
        SELECT 'msg_unk_' || %(tag)s || %(org)s || '_' || g, %(org)s, 'outbound', 'failed', %(number)s,
               '+1415555' || lpad((4000 + g)::text, 4, '0'), 'Hello',
               jsonb_build_object('twilioErrorCode', %(code)s::text, 'twilioErrorMessage', 'new failure mode',
                                  'country', 'US', 'templateId', 'tpl_reminder'),
               now() - make_interval(days => %(days)s) - (g * 37 %% 1500) * interval '1 second', now()
        FROM generate_series(1, %(n)s) g""",
              {"org": org["id"], "number": org["numbers"][0], "code": code, "n": n, "days": days_ago, "tag": tag})


def _delivered_days_ago(stack, org: dict, n: int, days_ago: int) -> None:
    stack.sql("""
        INSERT INTO "MessageLog" ("id", "orgId", "direction", "status", "from", "to", "content", "metadata",
                                  "createdAt", "finalAt")
        SELECT 'msg_old_' || %(org)s || '_' || %(days)s || '_' || g, %(org)s, 'outbound', 'delivered', %(number)s,
               '+14155559999', 'Earlier', '{}'::jsonb,
               now() - make_interval(days => %(days)s) - (g * 41 %% 1800) * interval '1 second', now()
        FROM generate_series(1, %(n)s) g""", {"org": org["id"], "number": org["numbers"][0], "n": n, "days": days_ago})


def test_a_burst_of_an_uncatalogued_code_at_one_org__is_its_own_incident(stack):
    orgs = make_orgs(stack)
    history(stack, orgs, 60)
    for days in (1, 2, 3):
        for org in orgs:
            _delivered_days_ago(stack, org, 60, days)
    _failures(stack, orgs[1], "39999", 30)
    stack.sql('SELECT smsrelay_rollup_rebuild()')

    causes = diagnose(stack)["causes"]
    top = causes[0]
    assert top["cause"] == "unknown_code", causes[:3]
    assert top["codes"] == ["39999"] and top["orgs"] == [orgs[1]["id"]]
    assert "39999" in top["summary"] and orgs[1]["id"] in top["summary"]
    assert top["templates"] == ["tpl_reminder"] and top["state"] == "live" and top["share"] > 0.3
    assert all(a.startswith("smsrelay ") for a in top["actions"])
    none = next(c for c in causes if c["cause"] == "none")
    assert "No incident" not in none["summary"]


def test_ordinary_noise_of_an_uncatalogued_code__is_no_incident(stack):
    orgs = make_orgs(stack)
    history(stack, orgs, 160)
    for days in (1, 2, 3):
        for i, org in enumerate(orgs):
            _delivered_days_ago(stack, org, 160, days)
            _failures(stack, org, "39999", 1, days_ago=days, tag=f"d{days}")
    for org in orgs[:2]:
        _failures(stack, org, "39999", 1)  # one each, as on earlier days
    stack.sql('SELECT smsrelay_rollup_rebuild()')

    causes = diagnose(stack)["causes"]
    assert causes[0]["cause"] == "none" and "No incident" in causes[0]["summary"], causes[:2]
    assert not [c for c in causes if c["cause"] == "unknown_code"]
    assert any("39999" in e for e in causes[0]["evidence"])  # still mentioned, as background


def test_current_causes__gives_the_autopilot_live_causes_with_scope_and_time(stack):
    from smsrelay.service.operations import causes

    orgs = make_orgs(stack)
    history(stack, orgs, 40)
    _failures(stack, orgs[2], "39999", 25)
    d = with_runtime(stack, lambda rt: causes.current_causes(rt, "1h", live=False))
    (live,) = d.live(min_confidence=0.5)
    assert live.cause == "unknown_code" and live.state == "live" and live.orgs == (orgs[2]["id"],)
    assert live.onset is not None and d.since < live.onset <= live.last_seen <= d.until
    assert d.causes[-1].cause == "none" or d.causes[-1].state == "resolved"


def test_an_uncatalogued_code_reported_by_twilio_at_one_org_amid_noise__names_that_code_and_org(stack):
    """End to end: the code arrives in Twilio's status callbacks (the simulator's `uncatalogued`
    scenario on one org's number), the other orgs carry the same code at its usual background
    rate and deliver normally."""
    from tests.support.incident import send, settled, sim

    orgs = make_orgs(stack)
    history(stack, orgs, 60)
    for days in (1, 2, 3):
        for org in orgs:
            _delivered_days_ago(stack, org, 60, days)
            _failures(stack, org, "39999", 1, days_ago=days, tag=f"d{days}")
    for org in (orgs[0], orgs[2]):
        _failures(stack, org, "39999", 1, tag="now")  # background, as on earlier days
    with sim(stack) as s:
        s.set_scenario("uncatalogued", number=orgs[1]["numbers"][0])
        burst = [send(stack, orgs[1], f"+1415555{7000 + k:04d}") for k in range(12)]
        others = [send(stack, o, f"+1415555{7100 + 20 * i + k:04d}") for i, o in enumerate((orgs[0], orgs[2]))
                  for k in range(4)]
        settled(stack, burst + others)
    rows = stack.sql('SELECT "status", "metadata"->>\'twilioErrorCode\' AS code FROM "MessageLog" '
                     'WHERE "id" = ANY(%s)', (burst,))
    assert {(r["status"], r["code"]) for r in rows} == {("undelivered", "39999")}
    for m in others:
        stack.wait_status(m, "delivered")
    stack.sql('SELECT smsrelay_rollup_rebuild()')

    causes = diagnose(stack)["causes"]
    unknown = [c for c in causes if c["cause"] == "unknown_code" and c["state"] == "live"]
    assert len(unknown) == 1 and causes[0] == unknown[0], causes[:3]
    top = unknown[0]
    assert top["codes"] == ["39999"] and top["orgs"] == [orgs[1]["id"]]
    assert "39999" in top["summary"] and orgs[1]["id"] in top["summary"]
    assert top["numbers"] == [orgs[1]["numbers"][0]] or orgs[1]["numbers"][0] in " ".join(top["evidence"])
    assert "No incident" not in next(c for c in causes if c["cause"] == "none")["summary"]
