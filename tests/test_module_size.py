"""No module in src/ over ~400 lines: past that a module holds two concepts (docs/design.md).
Migrations are history and are left as written."""

from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "smsrelay"
LIMIT = 400


def test_no_module_over_the_limit():
    too_long = {str(p.relative_to(SRC)): n for p in sorted([*SRC.rglob("*.py"), *SRC.rglob("*.sql")])
                if "migrations" not in p.parts and (n := len(p.read_text().splitlines())) > LIMIT}
    assert not too_long, f"modules over {LIMIT} lines: {too_long}"
