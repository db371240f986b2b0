"""Messages create answered straight from ASGI (app.py) agrees with the FastAPI route it bypasses."""

from __future__ import annotations

import httpx

from tests.support.sim_numbers import LONG, TO_US


def test_form_and_multipart_creates_answer_alike(rest, sim):
    fields = {"To": TO_US, "From": LONG, "Body": "héllo & goodbye = 100%+"}
    fast = rest.post("/Messages.json", data=fields)
    routed = rest.post("/Messages.json", files={k: (None, v) for k, v in fields.items()})
    assert fast.status_code == routed.status_code == 201
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    a, b = fast.json(), routed.json()
    assert a["body"] == b["body"] == fields["Body"]
    assert {k for k in a if a[k] != b[k]} <= {"sid", "uri", "subresource_uris", "date_created",
                                               "date_updated"}
    assert [m["body"] for m in sim.ledger()] == [fields["Body"]] * 2


def test_form_create_takes_the_last_of_a_repeated_field_and_every_media_url(rest):
    body = (f"To={TO_US.replace('+', '%2B')}&From=%2B10000000000&From={LONG.replace('+', '%2B')}"
            "&MediaUrl=https%3A%2F%2Fexample.com%2Fa.png&MediaUrl=https%3A%2F%2Fexample.com%2Fb.png&&Body=")
    r = rest.post("/Messages.json", content=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["from"] == LONG and m["num_media"] == "2" and m["sid"].startswith("MM")


def test_form_create_refuses_bad_credentials_and_another_account(rest, settings):
    r = rest.post("/Messages.json", data={"To": TO_US, "From": LONG, "Body": "x"}, auth=("AC" + "1" * 32, "no"))
    assert r.status_code == 401 and r.json()["code"] == 20003
    assert r.headers["www-authenticate"] == 'Basic realm="Twilio API"'
    path = f"/2010-04-01/Accounts/AC{'1' * 32}/Messages.json"
    r = rest.post(str(rest.base_url.copy_with(path=path)), data={"To": TO_US, "From": LONG, "Body": "x"})
    assert r.status_code == 404 and r.json()["code"] == 20404
    assert r.json()["message"] == f"The requested resource {path} was not found"


def test_form_create_validation_errors_keep_their_codes(rest):
    r = rest.post("/Messages.json", data={"To": "", "From": LONG, "Body": "x"})
    assert r.status_code == 400 and r.json()["code"] == 21604
    r = rest.post("/Messages.json", data={"To": "not a number", "From": LONG, "Body": "x"})
    assert r.status_code == 400 and r.json()["code"] == 21211


def test_a_non_ascii_authorization_header_is_401_not_a_crash(rest):
    url = str(rest.base_url).rstrip("/") + "/Messages.json"
    for header in ("Basic \u00e9t\u00e9".encode("latin-1"), b"Basic \xff\xfe"):
        r = httpx.post(url, data={"To": TO_US, "From": LONG, "Body": "x"},
                       headers={"Authorization": header}, trust_env=False)
        assert r.status_code == 401 and r.json()["code"] == 20003
