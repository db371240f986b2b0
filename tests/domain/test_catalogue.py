import pytest

from smsrelay.domain.catalogue import (
    CATALOGUE,
    CAUSES,
    TwilioError,
    describe_unknown,
    is_retryable,
    lookup,
    retry_budget,
)

RUNBOOK_TABLE = {
    30003: "Unreachable destination",
    30004: "Message blocked",
    30005: "Unknown destination",
    30006: "Landline destination",
    30007: "Carrier violation",
    30008: "Unknown error",
    21211: "Invalid To number",
}
REQUIRED = {
    10001, 20003, 20403, 20404, 20429, 21211, 21408, 21606, 21608, 21610, 21611, 21612, 21614,
    30001, 30002, 30003, 30004, 30005, 30006, 30007, 30008, 30010, 30032, 30034, 30500,
}


def test_catalogue__covers_every_runbook_and_required_code():
    assert REQUIRED <= set(CATALOGUE)


@pytest.mark.parametrize("code,meaning", sorted(RUNBOOK_TABLE.items()))
def test_catalogue__meaning_matches_runbook_table(code, meaning):
    assert CATALOGUE[code].meaning == meaning


def test_catalogue__every_cause_is_a_known_cause():
    assert {e.cause for e in CATALOGUE.values()} <= set(CAUSES)


def test_catalogue__keys_match_codes_and_entries_are_consistent():
    for code, entry in CATALOGUE.items():
        assert entry.code == code
        assert entry.retryable == (entry.max_retries > 0)
        assert entry.message and entry.meaning and entry.action
        # An error is either refused at create time or reported on delivery, never both.
        assert (entry.http_status is None) != (entry.final_status is None)


def test_catalogue__is_read_only():
    with pytest.raises(TypeError):
        CATALOGUE[1] = CATALOGUE[30008]  # type: ignore[index]


def test_21408__is_a_geo_permission_error_and_not_retryable():
    entry = lookup(21408)
    assert entry.cause == "geo_permissions"
    assert entry.http_status == 400
    assert not is_retryable(21408)
    assert retry_budget(21408) == 0


def test_30008__is_retryable_but_bounded_to_three():
    assert is_retryable("30008")
    assert retry_budget(30008) == 3
    assert lookup(30008).cause == "provider_outage"


@pytest.mark.parametrize("code", [20429, 21611, 30001, 30500])
def test_transient_codes__are_retryable(code):
    assert is_retryable(code) and retry_budget(code) > 0


@pytest.mark.parametrize("code", [20003, 21211, 21610, 30003, 30006, 30007, 30034])
def test_permanent_codes__are_not_retryable(code):
    assert not is_retryable(code)


@pytest.mark.parametrize(
    "code,cause",
    [(20003, "account"), (30002, "account"), (21606, "sender_number"), (30034, "sender_number"),
     (30032, "sender_number"), (30007, "content_filtering"), (30004, "content_filtering"),
     (20429, "rate_limiting"), (30001, "rate_limiting"), (21408, "geo_permissions"),
     (30003, "destination"), (21614, "destination"), (21610, "destination"), (30500, "provider_outage")],
)
def test_catalogue__maps_code_to_runbook_cause(code, cause):
    assert CATALOGUE[code].cause == cause


def test_20003__is_a_401_at_create_time():
    assert lookup(20003).http_status == 401
    assert lookup(20429).http_status == 429


def test_delivery_errors__carry_their_final_status():
    assert lookup(30003).final_status == "undelivered"
    assert lookup(30001).final_status == "failed"


@pytest.mark.parametrize("raw", [30008, "30008", " 30008 "])
def test_lookup__accepts_int_and_string(raw):
    assert lookup(raw) is CATALOGUE[30008]


@pytest.mark.parametrize("raw", [None, "", "abc", "30008.0", True, 99999])
def test_lookup__returns_none_for_missing_or_unknown(raw):
    assert lookup(raw) is None
    assert not is_retryable(raw)
    assert retry_budget(raw) == 0


def test_describe_unknown__gives_generic_non_retryable_entry():
    entry = describe_unknown("12345")
    assert isinstance(entry, TwilioError)
    assert entry.code == 12345
    assert entry.cause == "none"
    assert not entry.retryable and entry.max_retries == 0


def test_describe_unknown__returns_catalogue_entry_for_known_code():
    assert describe_unknown(30007) is CATALOGUE[30007]


def test_describe_unknown__tolerates_garbage():
    entry = describe_unknown("n/a")
    assert entry.code == 0 and "n/a" in entry.message


def test_twilio_error__rejects_unknown_cause():
    with pytest.raises(ValueError):
        TwilioError(1, "m", "m", "a", False, 0, "gremlins", None, None)
