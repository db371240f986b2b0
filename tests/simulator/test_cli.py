"""`smsrelay sim` subcommands against a running simulator (typer's CliRunner)."""

from __future__ import annotations

import json
import time

import pytest
import typer
from typer.testing import CliRunner

from smsrelay.simulator.cli import parse_duration, sim_app

from tests.support.sim_numbers import LONG, TO_US

runner = CliRunner()


def run(*args):
    return runner.invoke(sim_app, list(args))


def test_scenario_command_sets_lists_and_clears(sim, sim_server):
    r = run("scenario", "geo_blocked", "--country", "fr", "--for", "10m", "--url", sim_server)
    assert r.exit_code == 0, r.output
    r = run("scenario", "content_filtering", "--match", "promo", "--rate", "0.5", "--number", LONG,
            "--url", sim_server)
    assert r.exit_code == 0, r.output
    active = {s["name"]: s for s in sim.scenarios()}
    assert active["geo_blocked"]["country"] == "FR"
    assert active["geo_blocked"]["expires_at"] == pytest.approx(time.time() + 600, abs=5)
    assert (active["content_filtering"]["match"], active["content_filtering"]["rate"],
            active["content_filtering"]["number"]) == ("promo", 0.5, LONG)
    listed = run("scenario", "--list", "--url", sim_server)
    assert "geo_blocked" in listed.output and "opted_out" in listed.output
    assert run("scenario", "--clear", "--url", sim_server).exit_code == 0
    assert sim.scenarios() == []


def test_unknown_scenario_fails(sim, sim_server):
    r = run("scenario", "no_such_thing", "--url", sim_server)
    assert r.exit_code == 1 and "unknown scenario" in r.output


def test_inbound_command_posts_and_prints_twiml(sim, sim_server, receiver):
    r = run("inbound", "--from", TO_US, "--to", LONG, "hello from cli", "--url", sim_server)
    assert r.exit_code == 0, r.output
    assert "got: hello from cli" in r.output
    hit = [h for h in receiver.hits if h.path == "/inbound"][-1]  # not a late status callback
    assert hit.params["Body"] == "hello from cli" and hit.params["From"] == TO_US
    assert hit.params["MessageSid"] in r.output


def test_ledger_command_prints_json(sim, sim_server, twilio):
    sid = twilio.messages.create(to=TO_US, from_=LONG, body="in the ledger").sid
    r = run("ledger", "--json", "--url", sim_server)
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["sid"] for row in rows] == [sid]
    assert run("ledger", "--url", sim_server).exit_code == 0


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("1h", 3600), ("45", 45),
                                               ("250ms", 0.25)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(typer.BadParameter):
        parse_duration("soon")
