"""docs/runbook.md's step 2 with the template column, and its grouping by template, run
verbatim against messages sent from templates and as free text; the runbook's own step-2 query
(tests/system/test_runbook_sql.py runs it) is left as it is."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.incident import recipient, settled, sim

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
NUMBER = "+15017122661"


def _template_queries() -> list[str]:
    return [q.strip() for q in re.findall(r"```sql\n(.*?)```", RUNBOOK.read_text(), flags=re.S) if "templateId" in q]


def test_runbook_template_queries__name_and_group_the_failing_template(stack):
    queries = _template_queries()
    assert len(queries) == 2
    org = stack.create_org("Bistro", numbers=(NUMBER,))
    with stack.client(org["apiKey"]) as api, sim(stack) as s:
        tid = api.post("/v1/templates", json={"name": "promo", "body": "{{name}}: 2-for-1 tonight. Reply STOP to end"}
                       ).json()["id"]
        s.set_scenario("content_filtering", match="2-for-1")
        ids = [api.post("/v1/messages", json={"to": recipient(i), "template": "promo", "variables": {"name": "A"}}
                        ).json()["id"] for i in range(3)]
        ids.append(api.post("/v1/messages", json={"to": recipient(9), "body": "2-for-1 free text"}).json()["id"])
        settled(stack, ids)
    listed, grouped = (stack.sql(q) for q in queries)
    assert sorted(((r["template_id"] or ""), r["error_code"]) for r in listed) == [("", "30007")] + [(tid, "30007")] * 3
    assert [(r["template_id"], r["version"], r["error_code"], r["count"]) for r in grouped] == [
        (tid, "1", "30007", 3), (None, None, "30007", 1)]
