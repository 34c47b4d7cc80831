"""docs/tutorial.md quotes the implementations: every quoted line must still be in the file it names,
and every picture it shows must exist — the walk cannot drift from the code."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"


def quoted_blocks():
    for block in re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.S):
        first, *lines = block.rstrip("\n").split("\n")
        match = re.match(r"# from (\S+)", first)
        assert match, f"every snippet names its source file: {first!r}"
        yield match.group(1), lines


def test_every_snippet_is_still_in_its_source_file():
    blocks = list(quoted_blocks())
    assert {path for path, _ in blocks} == {"impl_pytorch/wgan.py", "impl_tensorflow/wgan.py", "impl_keras/wgan.py"}
    for path, lines in blocks:
        source = (ROOT / path).read_text().splitlines()
        for line in lines:
            assert line in source, f"docs/tutorial.md quotes a line that is no longer in {path}: {line!r}"


def test_each_change_is_shown_in_all_three_frameworks():
    text = TUTORIAL.read_text()
    for heading in ("## 1. No sigmoid", "## 2. No log", "## 3. Weight clipping", "## 4. RMSprop"):
        section = text.split(heading)[1].split("\n## ")[0]
        assert {m for m in re.findall(r"# from (impl_\w+)/", section)} == {"impl_pytorch", "impl_tensorflow", "impl_keras"}


def test_pictures_exist():
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", TUTORIAL.read_text()):
        assert (TUTORIAL.parent / image).stat().st_size > 5_000, image
