"""The committed reports: nothing in them names the machine that made them (a home, a temporary folder, a
virtual environment's packages)."""

import re
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[1] / "reports"
MACHINE_PATH = re.compile(r"[\"'`( ]/(tmp|root|home|work|Users)/\S*|/site-packages/")


def test_no_committed_report_carries_an_absolute_path_of_the_machine_that_made_it():
    found = [f"{path.relative_to(REPORTS)}: {match.group(0)}" for path in sorted(REPORTS.rglob("*"))
             if path.suffix in (".json", ".md", ".html")
             for match in MACHINE_PATH.finditer(path.read_text(errors="replace"))]
    assert found == []
