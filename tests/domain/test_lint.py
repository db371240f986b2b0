import pytest

from smsrelay.domain.lint import Finding, LintResult, blocking, lint


def codes(result: LintResult) -> list[str]:
    return [f.code for f in result.findings]


def test_lint__clean_message_has_no_findings():
    result = lint("Your appointment is tomorrow at 3pm.")
    assert result.findings == ()
    assert (result.encoding, result.segments, result.characters) == ("GSM-7", 1, 36)


@pytest.mark.parametrize("body", ["", "   \n"])
def test_lint__empty_body_is_an_error(body):
    result = lint(body)
    assert codes(result) == ["empty_body"]
    assert result.findings[0].severity == "error"


def test_lint__over_1600_characters_is_too_long():
    assert "too_long" in codes(lint("a" * 1601))
    assert "too_long" not in codes(lint("a" * 1600))


@pytest.mark.parametrize(
    "body,host",
    [("Go to bit.ly/abc", "bit.ly"), ("https://tinyurl.com/x", "tinyurl.com"), ("HTTP://T.CO/xyz", "t.co"),
     ("see www.bit.ly/x.", "bit.ly"), ("(rb.gy/1)", "rb.gy"), ("link: shorturl.at/aB1", "shorturl.at"),
     ("lnkd.in/e", "lnkd.in")],
)
def test_lint__url_shortener_hostnames_are_flagged(body, host):
    findings = [f for f in lint(body).findings if f.code == "url_shortener"]
    assert len(findings) == 1
    assert host in findings[0].message
    assert findings[0].severity == "warning"


@pytest.mark.parametrize(
    "body",
    ["Visit t.com today", "See notbit.ly/x", "mail me at ann@bit.ly", "bit.ly.example.com/x",
     "https://example.com/bit.ly", "the data.is.gd-ish thing", "best.co offers"],
)
def test_lint__other_domains_containing_shortener_text_are_not_flagged(body):
    assert "url_shortener" not in codes(lint(body))


@pytest.mark.parametrize(
    "body,phrase",
    [("You are a WINNER!", "winner"), ("Act now, limited time", "act now"), ("100% free", "100% free"),
     ("It is risk free", "risk-free"), ("Congratulations you won", "congratulations you"), ("URGENT: pay", "urgent")],
)
def test_lint__spam_phrases_are_flagged_case_insensitively(body, phrase):
    messages = [f.message for f in lint(body).findings if f.code == "spam_phrase"]
    assert any(repr(phrase) in m for m in messages)


@pytest.mark.parametrize("body", ["The winners list", "urgently needed", "we act nowhere", "click hereafter"])
def test_lint__spam_phrases_need_word_boundaries(body):
    assert "spam_phrase" not in codes(lint(body))


def test_lint__first_message_without_opt_out_language_warns():
    assert "opt_out_language" in codes(lint("Welcome to Acme alerts!", first_message_to_recipient=True))
    assert "opt_out_language" not in codes(lint("Welcome to Acme alerts!"))


@pytest.mark.parametrize(
    "body", ["Acme: hi. Reply STOP to opt out.", "Text STOP to quit", "Txt stop to end", "Send STOP to unsubscribe",
             "STOP to opt-out", "Reply 'STOP' to cancel"],
)
def test_lint__opt_out_language_variants_satisfy_first_message(body):
    assert "opt_out_language" not in codes(lint(body, first_message_to_recipient=True))


def test_lint__smart_quotes_give_unicode_upgrade_info_naming_them():
    result = lint("It’s “great”")
    finding = next(f for f in result.findings if f.code == "unicode_upgrade")
    assert finding.severity == "info"
    assert "RIGHT SINGLE QUOTATION MARK" in finding.message
    assert "LEFT DOUBLE QUOTATION MARK" in finding.message
    assert result.encoding == "UCS-2"


def test_lint__unicode_upgrade_reports_the_segments_saved():
    body = "It’s " + "a" * 100  # 105 chars: 2 UCS-2 segments, 1 GSM-7 segment
    finding = next(f for f in lint(body).findings if f.code == "unicode_upgrade")
    assert "1 segment(s) instead of 2" in finding.message


def test_lint__gsm_body_has_no_unicode_upgrade():
    assert "unicode_upgrade" not in codes(lint("Price: €5 [50% off]"))


def test_lint_result__to_dict_shape():
    data = lint("Go to bit.ly/x").to_dict()
    assert set(data) == {"encoding", "segments", "characters", "findings"}
    assert data["findings"][0] == {
        "code": "url_shortener",
        "message": data["findings"][0]["message"],
        "severity": "warning",
    }


ERR = Finding("too_long", "x", "error")
WARN = Finding("spam_phrase", "x", "warning")
INFO = Finding("unicode_upgrade", "x", "info")


def test_blocking__block_policy_blocks_errors_and_warnings():
    assert blocking([ERR, WARN, INFO], "block") == [ERR, WARN]


def test_blocking__warn_policy_blocks_only_errors():
    assert blocking([ERR, WARN, INFO], "warn") == [ERR]
    assert blocking([WARN, INFO], "warn") == []


def test_blocking__unknown_policy_raises():
    with pytest.raises(ValueError):
        blocking([ERR], "maybe")
