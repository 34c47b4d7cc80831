"""The code view (shared/suite/code.py): one self-contained page showing the three implementations section by
section, generated from the sources. Expectations are read from the source files, never hard-coded, so the
tests follow the code as it changes; they fail when the page stops showing what the sources say."""

import html
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from shared.suite.code import OWN_SECTIONS, PLUMBING, SECTIONS, TRAINING_LOOP, parse_sections, write_code_view
from shared.core.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["impl_pytorch", "impl_tensorflow", "impl_keras"]
CHANGE = re.compile(r"WGAN change ([1-4])(?!\d|\.\.)")
# A line each framework's own idiom forces into its own column and into no other.
DISTINCTIVE = {"impl_pytorch": ["nn.Linear(", "loss.backward()"],
               "impl_tensorflow": ["(tf.Module)", "tf.Variable("],  # not GradientTape: Keras uses it too
               "impl_keras": ["(keras.Model)", "def train_step("]}
# Every row of the page, in order: the algorithm, Keras' own train step, the loop, then the folded plumbing.
ROWS = [*SECTIONS, *OWN_SECTIONS, TRAINING_LOOP, *PLUMBING]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children, self.parts = tag, dict(attrs), parent, [], []

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]


class Dom(HTMLParser):
    """A strict little tree builder: the page is generated, so every tag must close where it opened."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#root", [], None)
        self.feed(page)
        self.close()
        assert self.current is self.root, f"unclosed <{self.current.tag}>"

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        self.current.parts.append(element)
        if tag not in VOID:
            self.current = element

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.current.tag == tag, f"</{tag}> closes <{self.current.tag}>"
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.parts.append(data)


def source_lines(pkg: str, name: str = "wgan.py", root: Path = ROOT) -> list[str]:
    return (root / pkg / name).read_text().split("\n")


def first_banner(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith("# ===="))


def change_lines(pkg: str) -> dict[int, set[int]]:
    """WGAN change N -> 1-based lines of wgan.py marked with it, read from the file (sections only)."""
    lines = source_lines(pkg)
    out = {n: set() for n in (1, 2, 3, 4)}
    for i in range(first_banner(lines), len(lines)):
        for n in CHANGE.findall(lines[i]):
            out[int(n)].add(i + 1)
    return out


def parity_lines(pkg: str) -> dict[int, str]:
    """1-based line -> text after '# Parity:' for every Parity comment in wgan.py."""
    return {i + 1: line.split("# Parity:", 1)[1].strip()
            for i, line in enumerate(source_lines(pkg)) if "# Parity:" in line}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("codeview") / "view" / "code.html"
    assert write_code_view(out) == out
    return out


@pytest.fixture(scope="module")
def dom(page):
    return Dom(page.read_text(encoding="utf-8")).root


def columns(dom, pkg: str):
    return dom.find_all("div", cls="col", data_framework=pkg)


def test_parse_sections_reads_the_banners_with_real_line_numbers():
    for pkg in PACKAGES:
        path = ROOT / pkg / "wgan.py"
        lines = source_lines(pkg)
        sections = parse_sections(path)
        assert [t for t in sections if t not in OWN_SECTIONS] == SECTIONS, pkg
        previous_last = 0
        for title, (first, last, code) in sections.items():
            assert first <= last and first > previous_last, (pkg, title)
            assert code == "\n".join(lines[first - 1:last]), (pkg, title)
            assert code.strip() and lines[first - 1].strip() and lines[last - 1].strip(), (pkg, title)
            banner = max(i for i in range(first - 1) if lines[i].startswith("# ===="))  # the rule under the title
            assert lines[banner - 1].lstrip("# ").strip() == title, (pkg, title, lines[banner - 1])
            assert all(not lines[i].strip() for i in range(banner + 1, first - 1)), (pkg, title)
            previous_last = last


def test_page_is_self_contained_and_has_every_section(page, dom):
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    for pattern in (r"<link\b", r"\bsrc\s*=", r"@import", r"url\(", r"<iframe"):
        assert not re.search(pattern, text), f"external resource ({pattern}) in the page"
    sections = dom.find_all("section", cls="sec")
    assert [s.attrs["data-title"] for s in sections] == ROWS
    assert sections[0].attrs["data-title"] == "Models"  # the page opens with the algorithm
    for section, title in zip(sections, ROWS):
        folded = bool(section.find_all("details"))
        assert folded == (title in PLUMBING), f"{title}: only the plumbing rows are folded"
        assert title in section.find_all("h2")[0].text
        assert [c.attrs["data-framework"] for c in section.find_all("div", cls="col")] == PACKAGES, title
        toc = dom.find_all("a", href=f"#{section.attrs['id']}")
        assert toc, f"no table-of-contents link to {title}"
    assert "generated from the source files" in " ".join(dom.find_all("header")[0].text.lower().split())


def test_each_column_shows_its_own_framework_with_real_line_numbers(dom):
    rows = {pkg: {} for pkg in PACKAGES}  # pkg -> {(file, line): text of that row's code cell}
    for pkg in PACKAGES:
        for col in columns(dom, pkg):
            for tr in col.find_all("tr", cls="line"):
                kind, line = re.fullmatch(rf"{pkg}-(wgan|train|contract|backend)-L(\d+)", tr.attrs["id"]).groups()
                src = tr.find_all("td", cls="src")[0].text
                rows[pkg][(f"{kind}.py", int(line))] = src.rstrip("\n") if src != " " else ""
    for pkg in PACKAGES:
        for name in ("wgan.py", "train.py", "contract.py"):
            lines = source_lines(pkg, name)
            shown = {line: text for (file, line), text in rows[pkg].items() if file == name}
            assert shown, (pkg, name)
            for line, text in shown.items():
                assert text == lines[line - 1], f"{pkg}/{name} line {line} is shown as {text!r}"
        wgan = {line for (file, line) in rows[pkg] if file == "wgan.py"}
        expected = {n for first, last, _ in parse_sections(ROOT / pkg / "wgan.py").values()
                    for n in range(first, last + 1)}
        assert wgan == expected, pkg
    for pkg, markers in DISTINCTIVE.items():
        for marker in markers:
            line = next(l.strip() for l in source_lines(pkg) if marker in l)
            assert any(line in text for text in rows[pkg].values()), (pkg, line)
            for other in PACKAGES:
                if other != pkg:
                    assert not any(marker in text for text in rows[other].values()), (other, marker)


def test_keras_training_loop_shows_model_fit(dom):
    loop = dom.find_all("section", cls="sec", data_title=TRAINING_LOOP)[0]
    for pkg in PACKAGES:
        text = columns(loop, pkg)[0].text
        assert "def fit(" in text, pkg
        train = (ROOT / pkg / "train.py").read_text()
        assert ("model.fit(" in text) == ("model.fit(" in train), pkg
    assert "model.fit(" in columns(loop, "impl_keras")[0].text


def test_wgan_changes_are_badged_and_in_the_legend(dom):
    for pkg in PACKAGES:
        expected = change_lines(pkg)
        badges = [b for col in columns(dom, pkg) for b in col.find_all("span", cls="badge")]
        assert len(badges) >= 4, pkg
        got = {n: {int(b.attrs["data-line"]) for b in badges if b.attrs["data-change"] == str(n)} for n in expected}
        assert got == expected and all(got.values()), (pkg, got, expected)
        for b in badges:
            n = int(b.attrs["data-change"])
            assert b.text.startswith(f"WGAN change {n}: "), b.text
            row = dom.find_all("tr", id=f"{pkg}-wgan-L{b.attrs['data-line']}")[0]
            assert "wgan" in row.classes, row.attrs  # the marked line itself is highlighted
        legend = dom.find_all("table", cls="legend")[0]
        for n, lines in expected.items():
            links = {int(a.attrs["href"].rsplit("-L", 1)[1])
                     for a in legend.find_all("a") if a.attrs["href"].startswith(f"#{pkg}-wgan-L")
                     and f"WGAN change {n}:" in a.parent.parent.text}
            assert links == lines, (pkg, n, links, lines)
    assert {b.text.split(":")[1].strip() for b in dom.find_all("span", cls="badge")} == \
        {"no sigmoid", "no log", "weight clipping", "RMSprop"}


def test_every_parity_comment_is_a_note_beside_its_line(dom):
    for pkg in PACKAGES:
        parity = parity_lines(pkg)
        assert parity, pkg
        algorithm = [sec for sec in dom.find_all("section", cls="sec")
                     if sec.attrs["data-title"] in (*SECTIONS, *OWN_SECTIONS)]  # the wgan.py rows
        notes = [n for sec in algorithm for col in columns(sec, pkg) for n in col.find_all("div", cls="note")]
        assert sorted(int(n.attrs["data-line"]) for n in notes) == sorted(parity), pkg
        lines = source_lines(pkg)
        for note in notes:
            line = int(note.attrs["data-line"])
            assert parity[line] in " ".join(note.text.split()), (pkg, line, note.text)
            # continuation lines of a multi-line comment are joined into the same note
            following = lines[line] if line < len(lines) else ""
            if following.strip().startswith("#") and "Parity:" not in following and \
                    following.index("#") == lines[line - 1].index("# Parity:"):
                assert following.strip().lstrip("#").strip() in note.text, (pkg, line)
            # the note sits right after its comment: its row follows the comment's last line
            row = note.parent.parent
            tbody = row.parent
            before = tbody.children[tbody.children.index(row) - 1]
            assert "par" in before.classes and int(before.attrs["id"].rsplit("-L", 1)[1]) >= line, (pkg, line)


def copy_impls(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def drop_banner(path: Path, title: str) -> None:
    lines = path.read_text().split("\n")
    i = lines.index(f"# {title}")
    assert lines[i - 1].startswith("# ====") and lines[i + 1].startswith("# ====")
    path.write_text("\n".join(lines[:i - 1] + lines[i + 2:]))


def test_the_copy_renders_like_the_original(tmp_path):
    root = copy_impls(tmp_path / "repo")
    out = write_code_view(tmp_path / "out" / "code.html", root=root)
    assert out.exists() and [p.name for p in out.parent.iterdir()] == ["code.html"]


def test_a_missing_section_names_framework_file_and_section_and_writes_nothing(tmp_path):
    root = copy_impls(tmp_path / "repo")
    drop_banner(root / "impl_keras" / "wgan.py", "Weight clipping")
    out = tmp_path / "out" / "code.html"
    with pytest.raises(UserError, match=r"impl_keras/wgan\.py has no section 'Weight clipping'") as err:
        write_code_view(out, root=root)
    assert "\n" not in str(err.value) and "same order" in str(err.value)
    assert not out.exists() and not out.parent.exists()


def test_a_failed_run_leaves_an_existing_page_untouched(tmp_path):
    root = copy_impls(tmp_path / "repo")
    drop_banner(root / "impl_pytorch" / "wgan.py", "Losses")
    out = tmp_path / "out" / "code.html"
    out.parent.mkdir()
    out.write_text("previous page")
    with pytest.raises(UserError, match=r"impl_pytorch/wgan\.py has no section 'Losses'"):
        write_code_view(out, root=root)
    assert out.read_text() == "previous page" and [p.name for p in out.parent.iterdir()] == ["code.html"]


def test_swapped_sections_are_refused(tmp_path):
    root = copy_impls(tmp_path / "repo")
    path = root / "impl_tensorflow" / "wgan.py"
    text = path.read_text()
    assert text.count("\n# Models\n") == 1 and text.count("\n# Losses\n") == 1
    path.write_text(text.replace("\n# Models\n", "\n# @@\n").replace("\n# Losses\n", "\n# Models\n")
                    .replace("\n# @@\n", "\n# Losses\n"))
    out = tmp_path / "out" / "code.html"
    with pytest.raises(UserError, match=r"impl_tensorflow/wgan\.py has its sections in a different order: "
                                        r"'Losses' comes where 'Models' should"):
        write_code_view(out, root=root)
    assert not out.exists()


def test_an_unknown_or_duplicated_section_is_refused(tmp_path):
    root = copy_impls(tmp_path / "repo")
    path = root / "impl_keras" / "wgan.py"
    original = path.read_text()
    path.write_text(original.replace("\n# Weight clipping\n", "\n# Weight Clipping\n"))
    with pytest.raises(UserError, match=r"impl_keras/wgan\.py has no section 'Weight clipping' "
                                        r"\(it has 'Weight Clipping'"):
        write_code_view(tmp_path / "a.html", root=root)
    rule = "# " + "=" * 98
    path.write_text(original + f"\n\n{rule}\n# Losses\n{rule}\nx = 1\n")
    with pytest.raises(UserError, match=r"impl_keras/wgan\.py has the section 'Losses' twice"):
        write_code_view(tmp_path / "b.html", root=root)
    assert not (tmp_path / "a.html").exists() and not (tmp_path / "b.html").exists()


def test_importing_it_needs_no_framework_and_runs_nothing():
    code = ("import sys; import shared.suite.code; "
            "bad = [m for m in ('torch', 'tensorflow', 'keras', 'jax', 'pygments', 'impl_pytorch', 'impl_keras', "
            "'impl_tensorflow') if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (apt-get install chromium; CI installs it)")
def test_page_renders_in_headless_chromium(page, tmp_path):
    proc = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                           "--no-first-run", "--disable-background-networking", "--disable-component-update",
                           "--disable-sync",
                           f"--user-data-dir={tmp_path / 'chromium-profile'}", "--virtual-time-budget=5000",
                           "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert f'data-sections="{len(ROWS)}"' in body, body
    for title in ROWS:
        assert f">{html.escape(title, quote=False)}</a></h2>" in dom, title
