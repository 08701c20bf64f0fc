"""The committed reports: nothing in them names the machine that made them (a home, a temporary folder, a
virtual environment's packages)."""

import re
from pathlib import Path

REPORTS = Path(__file__).resolve().parents[1] / "reports"
MACHINE_PATH = re.compile(r"[\"'`( ]/(tmp|root|home|work|Users)/\S*|/site-packages/")


def test_no_committed_report_carries_an_absolute_path_of_the_machine_that_made_it():
    found = [f"{path.relative_to(REPORTS)}: {match.group(0)}" for path in sorted(REPORTS.rglob("*"))
             if path.suffix in (".json", ".md", ".html", ".txt", ".log")
             for match in MACHINE_PATH.finditer(path.read_text(errors="replace"))]
    assert found == []


def test_no_report_page_is_titled_by_an_issue_number():
    titled = {str(path.relative_to(REPORTS)): path.read_text().split("\n", 1)[0] for path in REPORTS.rglob("*.md")}
    assert {name: title for name, title in titled.items() if re.search(r"[Ii]ssue[ -]?\d", title)} == {}


def test_the_index_links_every_report_folder_and_every_link_resolves():
    index = (REPORTS / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)\)", index)
    assert all((REPORTS / link).exists() for link in links), [link for link in links if not (REPORTS / link).exists()]
    folders = {path.name for path in REPORTS.iterdir() if path.is_dir()}
    assert folders == {link.split("/")[0] for link in links if "/" in link}
