"""The pumping signal against each org's own baseline (domain/pumping.py)."""

from __future__ import annotations

from smsrelay.domain import pumping
from smsrelay.domain.pumping import Window


def _ordinary(org="org_a", **kw):
    return Window(org, messages=40, cost=0.32, high_price=0, new_numbers=4, **kw)


def test_detect__dozens_of_new_numbers_in_a_dear_country_is_pumping_and_names_it():
    now = Window("org_a", messages=70, cost=8.1, high_price=30, new_numbers=34,
                 new_by_country={"UZ": 30, "US": 4}, high_by_country={"UZ": 30})
    [s] = pumping.detect([now], {"org_a": [_ordinary()] * 7})
    assert s.org_id == "org_a" and set(s.reasons) == {"new_numbers", "spend"}
    assert s.countries == ("UZ",)
    cause = pumping.cause(s)
    assert cause.cause == "sms_pumping" and cause.orgs == ("org_a",) and cause.countries == ("UZ",)


def test_detect__an_org_at_its_usual_level_is_not_pumping():
    assert pumping.detect([_ordinary()], {"org_a": [_ordinary()] * 7}) == []
    busy = Window("org_a", messages=200, cost=1.6, high_price=0, new_numbers=15)
    assert pumping.detect([busy], {"org_a": [Window("org_a", messages=220, cost=1.8, new_numbers=14)]}) == []


def test_detect__a_new_org_is_judged_by_its_share_of_dear_destinations_only():
    us_only = Window("org_new", messages=60, cost=0.47, new_numbers=60, new_by_country={"US": 60})
    assert pumping.detect([us_only], {}) == [], "every number of a new org is new"
    dear = Window("org_new", messages=30, cost=7.8, high_price=30, new_numbers=30, high_by_country={"KG": 30},
                  new_by_country={"KG": 30})
    [s] = pumping.detect([dear], {})
    assert s.reasons == ("high_price_share",) and s.countries == ("KG",)
