"""docs/tutorial.md and its Chinese edition docs/tutorial.zh.md quote the implementations: every quoted
line must still be in the file it names, both editions quote the same lines, and every picture they show
must exist — neither walk can drift from the code, nor from the other."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
EDITIONS = [TUTORIAL, ROOT / "docs" / "tutorial.zh.md"]


def quoted_blocks(doc=TUTORIAL):
    for block in re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S):
        first, *lines = block.rstrip("\n").split("\n")
        match = re.match(r"# from (\S+)", first)
        assert match, f"every snippet names its source file: {first!r}"
        yield match.group(1), lines


@pytest.mark.parametrize("doc", EDITIONS, ids=lambda p: p.name)
def test_every_snippet_is_still_in_its_source_file(doc):
    blocks = list(quoted_blocks(doc))
    assert {path for path, _ in blocks} >= {"impl_pytorch/wgan.py", "impl_tensorflow/wgan.py", "impl_keras/wgan.py",
                                            "impl_pytorch/train.py"}
    for path, lines in blocks:
        source = (ROOT / path).read_text().splitlines()
        for line in lines:
            assert line in source, f"docs/{doc.name} quotes a line that is no longer in {path}: {line!r}"


def test_the_chinese_edition_quotes_the_same_code_in_the_same_order():
    assert list(quoted_blocks(EDITIONS[1])) == list(quoted_blocks(EDITIONS[0]))


@pytest.mark.parametrize("doc", EDITIONS, ids=lambda p: p.name)
def test_the_accidents_table_is_filled_in(doc):
    table = doc.read_text().split("<!-- accidents:begin")[1].split("<!-- accidents:end -->")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == ["tutorial", "bn-eps", "schedule", "fresh-z", "corrected"]
    assert all(" ± " in row for row in rows), "every row is measured (mean ± std over seeds)"


def test_each_change_is_shown_in_all_three_frameworks():
    text = TUTORIAL.read_text()
    for heading in ("## 1. No sigmoid", "## 2. No log", "## 3. Weight clipping", "## 4. RMSprop"):
        section = text.split(heading)[1].split("\n## ")[0]
        assert {m for m in re.findall(r"# from (impl_\w+)/", section)} == {"impl_pytorch", "impl_tensorflow", "impl_keras"}


@pytest.mark.parametrize("doc", EDITIONS, ids=lambda p: p.name)
def test_pictures_exist(doc):
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", doc.read_text()):
        assert (TUTORIAL.parent / image).stat().st_size > 5_000, image
