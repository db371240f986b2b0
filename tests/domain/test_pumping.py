"""The pumping signal against each org's own baseline (domain/pumping.py)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

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


# What service/spend/pumping.py skips reading rests on these two: a test here fails when a new
# reason is added to `detect` without them.
_windows = st.builds(
    Window, st.just("org_a"), messages=st.integers(0, 500), cost=st.floats(0, 50, allow_nan=False),
    high_price=st.integers(0, 200), new_numbers=st.integers(0, 300),
    new_by_country=st.dictionaries(st.sampled_from(["US", "UZ", "GB"]), st.integers(1, 100), max_size=3),
    high_by_country=st.dictionaries(st.sampled_from(["US", "UZ", "GB"]), st.integers(1, 100), max_size=3))


@settings(max_examples=300, deadline=None)
@given(now=_windows, days=st.lists(_windows, max_size=7))
def test_could_signal__a_window_it_rules_out_is_never_flagged_whatever_the_baseline(now, days):
    if not pumping.could_signal(now):
        assert pumping.detect([now], {"org_a": days}) == []


@settings(max_examples=300, deadline=None)
@given(now=_windows, days=st.lists(_windows, max_size=7))
def test_needs_new_numbers__without_it_the_never_seen_numbers_change_nothing(now, days):
    if pumping.needs_new_numbers(now):
        return
    blind = replace(now, new_numbers=0, new_by_country={})
    blind_days = [replace(d, new_numbers=0, new_by_country={}) for d in days]
    flagged = pumping.detect([now], {"org_a": days})
    assert [(s.reasons, s.countries) for s in flagged] == \
        [(s.reasons, s.countries) for s in pumping.detect([blind], {"org_a": blind_days})]


@settings(max_examples=300, deadline=None)
@given(now=_windows, days=st.lists(_windows, max_size=7))
def test_needs_baseline_new_numbers__without_it_the_earlier_days_numbers_change_nothing(now, days):
    if pumping.needs_baseline_new_numbers(now):
        return
    blind_days = [replace(d, new_numbers=0, new_by_country={}) for d in days]
    assert [(s.reasons, s.countries) for s in pumping.detect([now], {"org_a": days})] == \
        [(s.reasons, s.countries) for s in pumping.detect([now], {"org_a": blind_days})]
