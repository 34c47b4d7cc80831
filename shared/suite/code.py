"""The code view: one self-contained HTML page showing the three implementations side by side.

Each row of the page is one section of wgan.py (the banner comments `# ====` / `# Title` / `# ====`),
in three columns, PyTorch | TensorFlow | Keras: the algorithm first, from Models to the Generator step (and
Keras' own Train step), then each package's train.py, the training loop. The plumbing (contract.py: threads,
devices, the harness's NumPy contract; Keras' backend.py) comes last, folded. The page
is generated from the source files every time (never a pasted copy): lines marked `WGAN change N` get a
coloured background and a badge, and every `# Parity:` comment is repeated as a note beside its line.

The implementations are read as TEXT (tokenize + pygments), never imported: this module needs no
deep-learning framework. pygments is imported only when a page is written.
"""

from __future__ import annotations

import ast
import html
import io
import os
import re
import tempfile
import tokenize
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from shared.core.errors import UserError

SECTIONS = [
    "Models",
    "Losses",
    "Weight clipping",
    "Optimizer",
    "Critic step",
    "Generator step",
]
"""The banner sections every impl_*/wgan.py has, in this order (tests/test_alignment.py checks the same)."""

OWN_SECTIONS = {"Train step: the keras.Model that fit() trains":
                "no keras.Model here: train.py's loop calls the critic and generator steps itself"}
"""Sections one framework's wgan.py may add after SECTIONS (title -> what the other columns say instead)."""

TRAINING_LOOP = "Training loop"
"""The row after the algorithm: each package's train.py after its docstring and imports."""

PLUMBING = {"Contract: threads, devices, NumPy in and out": "contract.py",
            "Backend shims": "backend.py"}
"""The folded last rows (title -> file): everything that is not the algorithm. A package without the file
(only Keras has backend.py) shows a note instead."""

FRAMEWORKS = [("impl_pytorch", "PyTorch", "#ee4c2c"), ("impl_tensorflow", "TensorFlow", "#ff8f00"),
              ("impl_keras", "Keras", "#d00000")]
"""(package, column heading, colour), in column order."""

CHANGES = {
    1: ("no sigmoid", "no sigmoid on the critic: its output is an unbounded score"),
    2: ("no log", "no log in the losses: raw scores, not log-probabilities"),
    3: ("weight clipping", "clip every critic weight and bias into [-c, c] after every critic update"),
    4: ("RMSprop", "RMSprop instead of a momentum optimizer"),
}
"""WGAN change N -> (badge text, legend text): the four changes from the original GAN."""

_CHANGE = re.compile(r"WGAN change ([1-4])(?!\d|\.\.)")  # not the docstrings' "WGAN change 1..4"
_PARITY = "# Parity:"
_PYGMENTS_STYLE = "default"
_SAME_ORDER = "every implementation needs the same sections in the same order"


# --- reading the sources ---------------------------------------------------------------------------
def _label(path: Path) -> str:
    """'impl_keras/wgan.py': how messages and headings name a file."""
    return f"{path.parent.name}/{path.name}"


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{_label(path)} not found (looked in {path.parent}); the code view needs "
                        "impl_pytorch, impl_tensorflow and impl_keras, each with wgan.py and train.py") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {_label(path)}: {e}") from None
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _is_rule(line: str) -> bool:
    return line.startswith("# ====")


def _banners(lines: list[str]) -> list[tuple[str, int]]:
    """(title, 0-based index of the banner's first rule) for every `# ====` / `# Title` / `# ====` block."""
    found = []
    for i in range(len(lines) - 2):
        middle = lines[i + 1]
        if _is_rule(lines[i]) and _is_rule(lines[i + 2]) and middle.startswith("#") and not _is_rule(middle):
            found.append((middle.lstrip("#").strip(), i))
    return found


def parse_sections(path: Path) -> dict[str, tuple[int, int, str]]:
    """Banner sections of one wgan.py, in file order: title -> (first line, last line, code).

    Line numbers are 1-based, as in an editor. A section runs from the line after its banner to the
    line before the next banner (or the end of the file), without leading and trailing blank lines.
    """
    path = Path(path)
    lines = _read_lines(path)
    banners = _banners(lines)
    sections: dict[str, tuple[int, int, str]] = {}
    seen: dict[str, int] = {}
    for k, (title, i) in enumerate(banners):
        if title in seen:
            raise UserError(f"{_label(path)} has the section '{title}' twice (banners at lines {seen[title]} and "
                            f"{i + 1}); {_SAME_ORDER}")
        seen[title] = i + 1
        start = i + 3  # 0-based index of the first line after the banner
        stop = banners[k + 1][1] if k + 1 < len(banners) else len(lines)
        while start < stop and not lines[start].strip():
            start += 1
        while stop > start and not lines[stop - 1].strip():
            stop -= 1
        sections[title] = (start + 1, stop, "\n".join(lines[start:stop]))
    return sections


def _check_sections(label: str, titles: list[str]) -> None:
    """UserError (one line) unless `titles` is SECTIONS exactly, then any of OWN_SECTIONS."""
    titles = list(titles)
    while titles and titles[-1] in OWN_SECTIONS:
        titles.pop()
    unknown = [t for t in titles if t not in SECTIONS]
    for title in SECTIONS:
        if title not in titles:
            instead = f" (it has '{unknown[0]}', which is not a section name)" if unknown else ""
            raise UserError(f"{label} has no section '{title}'{instead}; {_SAME_ORDER}")
    if unknown:
        raise UserError(f"{label} has a section '{unknown[0]}' that is not one of the {len(SECTIONS)} shared "
                        f"sections; {_SAME_ORDER} (add it to all three and to SECTIONS in shared/suite/code.py)")
    if titles != SECTIONS:
        i = next(k for k, (a, b) in enumerate(zip(titles, SECTIONS)) if a != b)
        raise UserError(f"{label} has its sections in a different order: '{titles[i]}' comes where "
                        f"'{SECTIONS[i]}' should; {_SAME_ORDER}")


def _training_loop(path: Path, lines: list[str]) -> tuple[int, int, str, str]:
    """(first line, last line, code, docstring's first line) of a file (train.py, contract.py, backend.py)
    after its docstring and imports."""
    text = "\n".join(lines)
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as e:
        raise UserError(f"{_label(path)} line {e.lineno}: not valid Python ({e.msg})") from None
    caption = (ast.get_docstring(tree) or "").split("\n")[0].strip()
    start = 0  # 0-based: the first line after the docstring and the imports
    for k, node in enumerate(tree.body):
        is_docstring = k == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
            and isinstance(node.value.value, str)
        if is_docstring or isinstance(node, (ast.Import, ast.ImportFrom)):
            start = node.end_lineno
        else:
            break
    stop = len(lines)
    while start < stop and not lines[start].strip():
        start += 1
    while stop > start and not lines[stop - 1].strip():
        stop -= 1
    if start >= stop:
        raise UserError(f"{_label(path)} has no code after its docstring and imports; the code view shows "
                        "that part of the file (train.py: the fit function)")
    return start + 1, stop, "\n".join(lines[start:stop]), caption


def _parity_comments(path: Path, lines: list[str]) -> dict[int, tuple[int, str]]:
    """Every `# Parity:` comment: last line -> (first line, text), consecutive comment lines joined."""
    comments: dict[int, tuple[int, str, bool]] = {}  # line -> (column, text, alone on its line)
    try:
        for tok in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            if tok.type == tokenize.COMMENT:
                (row, col), line = tok.start, lines[tok.start[0] - 1]
                comments[row] = (col, tok.string, not line[:col].strip())
    except (tokenize.TokenError, SyntaxError) as e:
        raise UserError(f"{_label(path)}: cannot tokenize it ({e}); is it valid Python?") from None
    notes = {}
    for row, (col, comment, _) in sorted(comments.items()):
        if not comment.startswith(_PARITY):
            continue
        parts, last = [comment[len(_PARITY):].strip()], row
        while last + 1 in comments:
            next_col, nxt, alone = comments[last + 1]
            if not alone or next_col != col or nxt.startswith(_PARITY) or _is_rule(nxt):
                break
            parts.append(nxt.lstrip("#").strip())
            last += 1
        notes[last] = (row, " ".join(p for p in parts if p))
    return notes


def _changes(lines: list[str]) -> dict[int, list[int]]:
    """1-based line -> the WGAN change numbers it is marked with."""
    return {i + 1: [int(n) for n in _CHANGE.findall(line)] for i, line in enumerate(lines) if _CHANGE.search(line)}


CHANGE_TABLE_MARKERS = ("<!-- changes:begin (written by `wgan-suite code --update-readme`) -->", "<!-- changes:end -->")


def change_table(root: Path | None = None) -> str:
    """The README's table of the four WGAN changes: every line marked `WGAN change N` in each wgan.py, linked."""
    root = root or Path(__file__).resolve().parents[2]
    marked = {package: _changes(_read_lines(root / package / "wgan.py")) for package, _, _ in FRAMEWORKS}
    rows = ["| change | " + " | ".join(title for _, title, _ in FRAMEWORKS) + " |", "|---" * (len(FRAMEWORKS) + 1) + "|"]
    for n, (_, legend) in CHANGES.items():
        cells = []
        for package, _, _ in FRAMEWORKS:
            lines = [line for line, numbers in marked[package].items() if n in numbers]
            cells.append(" · ".join(f"[L{line}]({package}/wgan.py#L{line})" for line in lines) or "missing")
        rows.append(f"| {n}. {legend} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def update_readme(root: Path | None = None) -> Path:
    """Rewrite the change table between README.md's markers from the sources."""
    root = root or Path(__file__).resolve().parents[2]
    readme = root / "README.md"
    begin, end = CHANGE_TABLE_MARKERS
    text = readme.read_text()
    if begin not in text or end not in text:
        raise UserError(f"{readme} has no change-table markers ({begin} ... {end})")
    head, rest = text.split(begin, 1)
    readme.write_text(head + begin + "\n" + change_table(root) + end + rest.split(end, 1)[1])
    return readme


def _pygments():
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:
        raise UserError("the code view needs pygments: pip install pygments") from None
    return highlight, HtmlFormatter, PythonLexer


def _highlight(lines: list[str]) -> list[str]:
    """The whole file highlighted at once (so the lexer sees every string in full), as one HTML string per
    line; pygments closes and reopens its spans at every newline, so each line stands alone."""
    highlight, HtmlFormatter, PythonLexer = _pygments()
    out = highlight("\n".join(lines) + "\n", PythonLexer(stripnl=False, ensurenl=True),
                    HtmlFormatter(nowrap=True, style=_PYGMENTS_STYLE)).split("\n")
    return (out + [""] * len(lines))[:len(lines)]


@dataclass
class _File:
    """One source file, read and highlighted once."""

    path: Path
    package: str
    kind: str  # 'wgan', 'train', 'contract' or 'backend'
    lines: list[str]
    code: list[str] = field(default_factory=list)  # highlighted HTML per line
    parity: dict[int, tuple[int, str]] = field(default_factory=dict)
    changes: dict[int, list[int]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return _label(self.path)

    def anchor(self, line: int) -> str:
        return f"{self.package}-{self.kind}-L{line}"

    def parity_lines(self) -> set[int]:
        return {n for last, (first, _) in self.parity.items() for n in range(first, last + 1)}


# --- rendering ---------------------------------------------------------------------------------------
def _slug(title: str) -> str:
    return "s-" + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _href(path: Path, out: Path) -> str:
    try:
        rel = os.path.relpath(path, out.parent)
    except ValueError:  # another drive (Windows)
        return path.resolve().as_uri()
    return html.escape(Path(rel).as_posix())


def _block(f: _File, first: int, last: int) -> str:
    """Table rows for lines first..last of one file: line-number gutter, code, badges, parity notes."""
    rows = []
    parity_lines = f.parity_lines()
    for n in range(first, last + 1):
        for change in f.changes.get(n, []):
            rows.append(f'<tr class="ann"><td class="ln"></td><td><span class="badge c{change}" data-change="{change}" '
                        f'data-line="{n}">WGAN change {change}: {html.escape(CHANGES[change][0])}</span></td></tr>')
        classes = ["line"]
        if f.changes.get(n):
            classes.append(f"wgan c{f.changes[n][0]}")
        if n in parity_lines:
            classes.append("par")
        line = f.lines[n - 1]
        indent = len(line) - len(line.lstrip(" "))  # wrapped lines hang under their own indentation
        style = f' style="--i:{indent}ch"' if indent else ""
        anchor = f.anchor(n)
        rows.append(f'<tr class="{" ".join(classes)}" id="{anchor}"><td class="ln"><a href="#{anchor}">{n}</a></td>'
                    f'<td class="src"{style}>{f.code[n - 1] or " "}</td></tr>')
        if n in f.parity:
            start, text = f.parity[n]
            where = f"line {start}" if start == n else f"lines {start}–{n}"
            rows.append(f'<tr class="ann"><td class="ln"></td><td><div class="note" data-line="{start}">'
                        f'<b>Parity</b> <small>({where})</small> {html.escape(text)}</div></td></tr>')
    return "\n".join(rows)


def _column(f: _File | None, first: int, last: int, heading: str, colour: str, out: Path, caption: str = "",
            package: str = "") -> str:
    """One framework's cell of a row: lines first..last of f, or (f None) the caption as a note."""
    if f is None:
        return (f'<div class="col" data-framework="{package}">'
                f'<div class="colhead" style="border-top-color:{colour}"><span class="fw" style="color:{colour}">'
                f'{html.escape(heading)}</span> <span class="span">—</span></div>'
                f'<div class="caption absent">{html.escape(caption)}</div></div>')
    span = f"line {first}" if first == last else f"lines {first}–{last}"
    if last < first:
        span, body = "empty", ""
    else:
        body = _block(f, first, last)
    cap = f'<div class="caption">{html.escape(caption)}</div>' if caption else ""
    return (f'<div class="col" data-framework="{f.package}">'
            f'<div class="colhead" style="border-top-color:{colour}"><span class="fw" style="color:{colour}">'
            f'{html.escape(heading)}</span> <a class="file" href="{_href(f.path, out)}">{html.escape(f.label)}</a> '
            f'<span class="span">{span}</span>{cap}</div>'
            f'<div class="scroll"><table class="code"><tbody>\n{body}\n</tbody></table></div></div>')


_CSS = """
:root { --gutter: 3.6em; --mono: "DejaVu Sans Mono", "Menlo", "Consolas", "Liberation Mono", monospace; }
* { box-sizing: border-box; }
body { margin: 0; padding: 0 1.2rem 4rem; font: 17px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: #1d1d1f; background: #fafafa; }
header { max-width: 72rem; }
h1 { font-size: 1.9rem; margin: 1.2rem 0 .4rem; }
h2 { font-size: 1.45rem; margin: 0; padding: .45rem .2rem; position: sticky; top: 0; z-index: 5;
     background: #fafafa; border-bottom: 2px solid #ddd; }
h2 a.self { color: inherit; text-decoration: none; }
h2 .num { color: #888; font-weight: 500; margin-right: .4em; }
code, .mono { font-family: var(--mono); font-size: .92em; }
a { color: #1558b0; }
.intro p { margin: .4rem 0; max-width: 68rem; }
.meta { color: #555; font-size: .9rem; }
.panels { display: flex; flex-wrap: wrap; gap: 1.2rem 2.4rem; margin: 1rem 0 1.4rem; align-items: flex-start; }
table.grid { border-collapse: collapse; font-size: .95rem; }
table.grid th, table.grid td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left;
                               vertical-align: top; }
table.grid th { background: #eee; }
table.grid td.lines a { font-family: var(--mono); font-size: .9em; margin-right: .35em; }
.toggle { display: block; font-size: .95rem; margin: .2rem 0 .6rem; }
section.sec { margin: 1.6rem 0 2.2rem; }
.cols { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: .8rem; margin-top: .6rem; }
.col { min-width: 0; background: #fff; border: 1px solid #d6d6d6; border-radius: 6px; overflow: hidden;
       display: flex; flex-direction: column; }
.colhead { border-top: 5px solid #999; padding: .35rem .6rem; background: #f3f3f3; border-bottom: 1px solid #ddd;
           font-size: .95rem; }
.colhead .fw { font-weight: 700; font-size: 1.1rem; margin-right: .3em; }
.colhead .file { font-family: var(--mono); font-size: .9em; }
.colhead .span { color: #666; font-size: .9em; margin-left: .3em; }
.caption { color: #444; font-size: .9rem; margin-top: .15rem; }
.caption.absent { padding: .6rem .4rem; font-style: italic; }
details.plumbing > summary { cursor: pointer; color: #1558b0; padding: .4rem .2rem; font-size: 1rem; }
section.folded h2 { color: #666; }
.scroll { overflow-x: auto; container-type: inline-size; }
table.code { border-collapse: collapse; font-family: var(--mono); font-size: 15px; line-height: 1.5;
             min-width: 100%; }
table.code td { padding: 0; vertical-align: top; }
td.ln { position: sticky; left: 0; z-index: 2; width: var(--gutter); min-width: var(--gutter); text-align: right;
        padding: 0 .6em 0 .3em !important; background: #f0f0f0; border-right: 1px solid #ddd; user-select: none; }
td.ln a { color: #8a8a8a; text-decoration: none; }
td.src { white-space: pre; padding: 0 1em 0 .6em !important; }
tr.line:target td { outline: 2px solid #1558b0; outline-offset: -2px; }
tr.wgan td.src { box-shadow: inset 5px 0 0 var(--c); }
tr.wgan td.ln { background: var(--c); }
tr.wgan td.ln a { color: #fff; font-weight: 700; }
tr.par td.src { background: #fff5cc; }
tr.par td.ln { box-shadow: inset -4px 0 0 #e0a000; }
.c1 { --c: #c2185b; --bg: #fde4ee; } .c2 { --c: #1565c0; --bg: #e1edfb; }
.c3 { --c: #2e7d32; --bg: #e2f3e3; } .c4 { --c: #6a1b9a; --bg: #efe3f6; }
tr.wgan td.src { background: var(--bg); }
tr.wgan.par td.src { background: linear-gradient(var(--bg), #fff5cc); }
tr.ann td { padding: .15rem 0 !important; }
tr.ann td.ln { background: #f0f0f0; }
.badge { position: sticky; left: calc(var(--gutter) + .6em); display: inline-block; margin: .1rem .6em;
         padding: .05rem .6em; border-radius: 999px; background: var(--c); color: #fff; font: 700 14px/1.5 system-ui,
         sans-serif; white-space: nowrap; }
.note { position: sticky; left: calc(var(--gutter) + .6em); display: block; margin: .1rem .6em .25rem;
        max-width: calc(100cqw - var(--gutter) - 2.4em); white-space: normal; padding: .3rem .6rem;
        background: #fff5cc; border-left: 5px solid #e0a000; border-radius: 3px; color: #3d3000;
        font: 15px/1.4 system-ui, sans-serif; }
.note b { color: #8a5a00; }
.note small { color: #7a6a3a; }
.legend-badge { display: inline-block; width: 1.4em; height: 1.1em; border-radius: 3px; background: var(--c);
                vertical-align: -0.15em; margin-right: .35em; }
.legend-note { display: inline-block; padding: 0 .4em; background: #fff5cc; border-left: 4px solid #e0a000; }
body.wrap td.src { white-space: pre-wrap; overflow-wrap: anywhere; --h: calc(var(--i, 0ch) + 4ch);
                   padding-left: calc(.6em + var(--h)) !important; text-indent: calc(-1 * var(--h)); }
body.wrap table.code { width: 100%; }
nav ol { margin: .3rem 0; padding-left: 1.6rem; }
@media (max-width: 1100px) { .cols { grid-template-columns: minmax(0, 1fr); } }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  document.body.dataset.sections = String(document.querySelectorAll("section.sec").length);
});
document.getElementById("wrap").addEventListener("change", function (e) {
  document.body.classList.toggle("wrap", e.target.checked);
});
"""


def _legend(files: dict[str, _File], shown: dict[str, set[int]]) -> str:
    head = "".join(f'<th style="color:{colour}">{name}</th>' for _, name, colour in FRAMEWORKS)
    rows = []
    for n, (badge, text) in CHANGES.items():
        cells = []
        for package, _, _ in FRAMEWORKS:
            f = files[package]
            links = [f'<a href="#{f.anchor(line)}">L{line}</a>' for line in sorted(f.changes)
                     if n in f.changes[line] and line in shown[package]]
            cells.append(f'<td class="lines">{" ".join(links) or "—"}</td>')
        rows.append(f'<tr class="c{n}"><td><span class="legend-badge"></span><b>WGAN change {n}: '
                    f'{html.escape(badge)}</b><br><small>{html.escape(text)}</small></td>{"".join(cells)}</tr>')
    notes = "".join(f"<td>{len(files[p].parity)} in <code>{html.escape(files[p].label)}</code></td>"
                    for p, _, _ in FRAMEWORKS)
    rows.append(f'<tr><td><span class="legend-note"><b>Parity</b> notes</span><br><small>where the frameworks '
                f'genuinely differ, and why</small></td>{notes}</tr>')
    return (f'<table class="grid legend"><thead><tr><th>The four WGAN changes (lines in wgan.py)</th>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def _toc(rows: list[tuple[str, dict[str, tuple[int, int]]]]) -> str:
    head = "".join(f'<th style="color:{colour}">{name}</th>' for _, name, colour in FRAMEWORKS)
    body = []
    for k, (title, spans) in enumerate(rows, 1):
        cells = "".join(f'<td class="mono">{a}–{b} <small>({b - a + 1})</small></td>' if b >= a else "<td>—</td>"
                        for a, b in (spans[p] for p, _, _ in FRAMEWORKS))
        body.append(f'<tr><td>{k}. <a href="#{_slug(title)}">{html.escape(title)}</a></td>{cells}</tr>')
    return (f'<nav><table class="grid toc"><thead><tr><th>Contents (lines, and how many)</th>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></nav>')


def write_code_view(out: Path, root: Path | None = None) -> Path:
    """Write the side-by-side code view of `root`'s impl_pytorch, impl_tensorflow and impl_keras to `out`.

    root defaults to the repository this module lives in. The page is built in full first; a missing,
    extra or reordered section raises UserError (one line naming the file and the section) and writes
    nothing. Returns `out`.
    """
    out = Path(out)
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]

    # rows: (title, folded, {package: (file or None, first, last, caption)})
    wgans, files, sections = {}, [], {}
    loops: dict[str, tuple] = {}
    plumbing: dict[str, dict[str, tuple]] = {title: {} for title in PLUMBING}
    for package, _, _ in FRAMEWORKS:
        path = root / package / "wgan.py"
        lines = _read_lines(path)
        sections[package] = parse_sections(path)
        _check_sections(_label(path), list(sections[package]))
        wgans[package] = _File(path, package, "wgan", lines)
        train_path = root / package / "train.py"
        train_lines = _read_lines(train_path)
        train = _File(train_path, package, "train", train_lines)
        loops[package] = (train, *_training_loop(train_path, train_lines))
        files += [wgans[package], train]
        for title, name in PLUMBING.items():
            extra = root / package / name
            if not extra.exists():
                plumbing[title][package] = (None, 0, 0, f"no {name}: {package} needs none", "")
                continue
            extra_lines = _read_lines(extra)
            extra_file = _File(extra, package, name.removesuffix(".py"), extra_lines)
            plumbing[title][package] = (extra_file, *_training_loop(extra, extra_lines))
            files.append(extra_file)
    for f in files:
        f.code = _highlight(f.lines)
        f.parity = _parity_comments(f.path, f.lines)
        f.changes = _changes(f.lines)

    rows: list[tuple[str, bool, dict[str, tuple]]] = []
    own = [t for t in OWN_SECTIONS if any(t in sections[p] for p, _, _ in FRAMEWORKS)]
    for title in [*SECTIONS, *own]:
        cells = {}
        for package, _, _ in FRAMEWORKS:
            if title in sections[package]:
                first, last, _ = sections[package][title]
                cells[package] = (wgans[package], first, last, "")
            else:
                cells[package] = (None, 0, 0, OWN_SECTIONS[title])
        rows.append((title, False, cells))
    rows.append((TRAINING_LOOP, False, {p: (f, a, b, caption) for p, (f, a, b, _, caption) in loops.items()}))
    for title in PLUMBING:
        rows.append((title, True, {p: (f, a, b, caption) for p, (f, a, b, _, caption) in plumbing[title].items()}))

    rows_html, toc_rows = [], []
    shown: dict[str, set[int]] = {p: set() for p, _, _ in FRAMEWORKS}
    for k, (title, folded, cells) in enumerate(rows, 1):
        columns, spans = [], {}
        for package, name, colour in FRAMEWORKS:
            f, first, last, caption = cells[package]
            if f is not None and f.kind == "wgan":
                shown[package].update(range(first, last + 1))
            spans[package] = (first, last) if f is not None else (1, 0)
            columns.append(_column(f, first, last, name, colour, out, caption, package))
        toc_rows.append((title, spans))
        slug = _slug(title)
        heading = (f'<a class="self" href="#{slug}"><span class="num">{k}.</span>{html.escape(title)}</a>')
        body = f'<div class="cols">{"".join(columns)}</div>'
        if folded:  # plumbing: closed until asked for
            body = (f'<details class="plumbing"><summary>show the {html.escape(PLUMBING[title])} '
                    f'files (not the algorithm: what the harness needs)</summary>{body}</details>')
        rows_html.append(f'<section class="sec{" folded" if folded else ""}" id="{slug}" '
                         f'data-title="{html.escape(title)}"><h2>{heading}</h2>{body}</section>')

    _, HtmlFormatter, _ = _pygments()
    pygments_css = HtmlFormatter(style=_PYGMENTS_STYLE).get_style_defs("td.src")
    stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    names = " | ".join(name for _, name, _ in FRAMEWORKS)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WGAN side by side — the code ({names})</title>
<style>{_CSS}
{pygments_css}
td.src {{ background: transparent; }}
</style>
</head>
<body>
<header class="intro">
<h1>WGAN side by side — the code</h1>
<p>The same MLP Wasserstein GAN in PyTorch, TensorFlow and Keras, one section per row and one framework per
column (<b>{names}</b>). The rows are the sections every <code>wgan.py</code> is divided into by its banner
comments, in the same order, so reading across a row compares the same step in three idioms: the algorithm,
from the models to the generator step. Then each package's <code>train.py</code>, the training loop. The last
rows, folded, are the plumbing the harness needs and a learner can skip: <code>contract.py</code> (threads,
devices, NumPy in and out, canonical parameters) and Keras' <code>backend.py</code>.</p>
<p>How to read it: line numbers are the files' own (click one for a link to that line). Lines with a coloured
badge are the <b>four WGAN changes</b> from the original GAN; the amber notes repeat the <code>#&nbsp;Parity:</code>
comments, the places where the frameworks genuinely differ and why. Wide code scrolls sideways inside its
column, or wrap it:</p>
<label class="toggle"><input type="checkbox" id="wrap"> wrap long lines instead of scrolling</label>
<p class="meta">Generated from the source files in <code>{html.escape(str(root))}</code> at {html.escape(stamp)}
by <code>shared/suite/code.py</code>; regenerate it after editing the code rather than editing this page.</p>
</header>
<div class="panels">
{_legend(wgans, shown)}
{_toc(toc_rows)}
</div>
{"".join(rows_html)}
<script>{_SCRIPT}</script>
</body>
</html>
"""

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
