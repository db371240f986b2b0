"""The runbook's SQL, verbatim: the tests run exactly what an operator would paste."""

from __future__ import annotations

import re
from pathlib import Path

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook-original.md"


def runbook_mitigations() -> dict[str, str]:
    """The runbook's "Mitigation" SQL blocks, verbatim, keyed by what they set."""
    text = RUNBOOK.read_text()
    section = text.split("## Mitigation", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    found = {}
    for block in blocks:
        column = re.search(r'SET "(\w+)"', block).group(1)
        found[column] = block.strip()
    assert set(found) == {"smsDisabled", "maxMessagesPerMinute"}, found
    return found


def runbook_sql(column: str, org_id: str) -> str:
    """The runbook's statement with only its placeholder org id replaced."""
    statement = runbook_mitigations()[column]
    assert statement.count("'org_xxx'") == 1
    return statement.replace("'org_xxx'", f"'{org_id}'")
