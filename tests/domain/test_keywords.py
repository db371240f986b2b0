import pytest

from smsrelay.domain.keywords import (
    DEFAULT_REPLIES,
    HELP,
    HELP_REPLY,
    OPT_IN,
    OPT_OUT,
    START_REPLY,
    STOP_REPLY,
    classify,
)


def test_keyword_sets__match_twilio_defaults():
    assert OPT_OUT == {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
    assert OPT_IN == {"START", "YES", "UNSTOP"}
    assert HELP == {"HELP", "INFO"}


@pytest.mark.parametrize("word", sorted(OPT_OUT))
def test_classify__every_opt_out_keyword_is_opt_out(word):
    assert classify(word) == "opt_out"


@pytest.mark.parametrize("word", sorted(OPT_IN))
def test_classify__every_opt_in_keyword_is_opt_in(word):
    assert classify(word) == "opt_in"


@pytest.mark.parametrize("word", sorted(HELP))
def test_classify__help_and_info_are_help(word):
    assert classify(word) == "help"


@pytest.mark.parametrize("body", ["stop", "Stop", "  STOP\n", "\tsToP ", "STOP.", "Stop!", "stop!!", "STOP …"])
def test_classify__case_whitespace_and_trailing_punctuation_are_ignored(body):
    assert classify(body) == "opt_out"


@pytest.mark.parametrize(
    "body", ["STOP PLEASE", "please cancel", "stop it", "don't stop", "STOPP", "S T O P", "", "   ", None, "yes please"]
)
def test_classify__keyword_must_be_the_whole_message(body):
    assert classify(body) is None


def test_default_replies__are_twilios_texts():
    assert STOP_REPLY.startswith("You have successfully been unsubscribed.")
    assert "Reply START to resubscribe." in STOP_REPLY
    assert "Reply STOP to unsubscribe." in START_REPLY
    assert HELP_REPLY == "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
    assert DEFAULT_REPLIES == {"opt_out": STOP_REPLY, "opt_in": START_REPLY, "help": HELP_REPLY}
