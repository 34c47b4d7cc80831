"""`wgan-suite accidents`, shortened: five rows (the tutorial, each fix alone, all fixed) trained on the same
seeds through `compare`, tabulated into both tutorial editions between their markers, and reused on a rerun."""

import json
import shutil
from pathlib import Path

import pytest

from shared.suite.accidents import MARKERS, ROWS, AccidentsConfig, accidents, write_between_markers
from shared.core.errors import UserError
from shared.core.spec import CORRECTIONS, TUTORIAL, parse_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_the_rows_fix_exactly_the_documented_accidents():
    rows = {name: parse_overrides(overrides) for name, _, _, overrides in ROWS}
    assert rows["tutorial"] == {}
    assert rows["corrected"] == {name: value for name, (value, _) in CORRECTIONS.items()}
    singles = [rows[name] for name in ("bn-eps", "schedule", "fresh-z")]
    assert {k for row in singles for k in row} == set(CORRECTIONS)  # together they are the corrected preset
    assert all(TUTORIAL.replace(**row) != TUTORIAL for row in rows.values() if row)


@pytest.mark.slow
def test_smoke_budget_writes_both_tables_and_reuses_its_rows(tmp_path, mnist):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("tutorial.md", "tutorial.zh.md"):
        shutil.copyfile(ROOT / "docs" / name, docs / name)
    config = AccidentsConfig(frameworks=["pytorch"], budget="smoke", out=tmp_path / "runs", docs=docs, threads=1, jobs=2)
    lines = []
    values = accidents(config, log=lines.append)
    assert len(lines) == 5 and all("generator iterations" in line for line in lines)
    assert set(values["rows"]) == {name for name, *_ in ROWS}
    fd = values["rows"]["tutorial"]["pytorch"]["fd"]
    assert len(fd) == 1 and fd[0] > 0
    for name in ("tutorial.md", "tutorial.zh.md"):
        table = (docs / name).read_text().split(MARKERS[0])[1].split(MARKERS[1])[0]
        assert table.count("\n| `") == 5 and "--budget smoke" in table
    assert json.loads((docs / "accidents.json").read_text())["budget"] == "smoke"
    # A rerun trains nothing: every row is reused.
    lines.clear()
    accidents(config, log=lines.append)
    assert all("reusing" in line for line in lines)


def test_a_page_without_markers_is_a_one_line_error(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# no table here\n")
    with pytest.raises(UserError, match="no accidents markers"):
        write_between_markers(page, "| table |\n")
    assert page.read_text() == "# no table here\n"  # nothing half-written
