"""The three implementations read alike: same files, same section banners in the same order, the same
names defined in the same order; and the README's links still point at the four WGAN changes."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["impl_pytorch", "impl_tensorflow", "impl_keras"]
ALGORITHM_NAMES = ["Generator", "Critic", "critic_loss", "generator_loss", "clip_critic_weights", "clip_stats",
                   "SpecRMSprop", "make_optimizer", "critic_step", "generator_step"]
CONTRACT_NAMES = ["set_threads", "resolve_device", "WGAN", "build_wgan", "execution_modes", "execution_mode"]
CONTRACT = ["critic_step", "generator_step", "critic_scores", "generate", "get_params", "set_params",
            "get_optimizer_state", "set_optimizer_state"]


def banners(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    return [lines[i + 1][2:].strip() for i, line in enumerate(lines[:-2])
            if line.startswith("# ====") and lines[i + 2].startswith("# ====")]


def top_level_names(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


def test_same_files_in_every_implementation():
    """wgan.py the algorithm, train.py the loop, contract.py the harness's plumbing; Keras alone has
    backend.py, the few backend-specific corners of a Keras 3 train step."""
    files = {pkg: sorted(p.name for p in (ROOT / pkg).glob("*.py")) for pkg in PACKAGES}
    common = ["__init__.py", "__main__.py", "contract.py", "train.py", "wgan.py"]
    assert files["impl_pytorch"] == files["impl_tensorflow"] == common
    assert files["impl_keras"] == sorted(common + ["backend.py"])


ALGORITHM_BANNERS = ["Models", "Losses", "Weight clipping", "Optimizer", "Critic step", "Generator step"]


def test_same_section_banners_in_the_same_order():
    """wgan.py opens with the models and holds only the algorithm; Keras adds its train step last."""
    for pkg in PACKAGES:
        extra = ["Train step: the keras.Model that fit() trains"] if pkg == "impl_keras" else []
        assert banners(ROOT / pkg / "wgan.py") == ALGORITHM_BANNERS + extra, pkg
        assert banners(ROOT / pkg / "contract.py") == [
            "Setup: threads, dtype, device", "Contract: NumPy in, NumPy out, canonical parameters (see shared/core/protocol.py)",
            "Execution modes: how train.py's loop can run (`wgan-suite bench` asks for them by name)"], pkg


def test_bench_sets_no_attribute_of_an_implementation():
    """bench asks an implementation for its execution modes by name; it never reaches inside one."""
    source = (ROOT / "shared" / "suite" / "bench.py").read_text()
    tree = ast.parse(source)
    assigned = [ast.unparse(t) for node in ast.walk(tree) if isinstance(node, (ast.Assign, ast.AugAssign))
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])]
    assert not [a for a in assigned if "." in a and not a.startswith("self.")], assigned  # self: bench's own Session
    assert "impl_" not in source.replace("impl_X", "")


def test_wgan_py_starts_with_the_models():
    """A learner reads the algorithm first: the first definition in every wgan.py is a model (or a layer of one)."""
    for pkg in PACKAGES:
        first_banner = banners(ROOT / pkg / "wgan.py")[0]
        assert first_banner == "Models", pkg
        text = (ROOT / pkg / "wgan.py").read_text()
        assert "set_threads" not in text and "resolve_device" not in text and "get_params" not in text, pkg


@pytest.mark.parametrize("pkg", PACKAGES)
def test_shared_names_are_defined_in_the_same_order(pkg):
    names = top_level_names(ROOT / pkg / "wgan.py")
    assert [n for n in names if n in ALGORITHM_NAMES] == ALGORITHM_NAMES
    names = top_level_names(ROOT / pkg / "contract.py")
    assert [n for n in names if n in CONTRACT_NAMES] == CONTRACT_NAMES
    wgan_class = next(node for node in ast.parse((ROOT / pkg / "contract.py").read_text()).body
                      if isinstance(node, ast.ClassDef) and node.name == "WGAN")
    methods = [n.name for n in wgan_class.body if isinstance(n, ast.FunctionDef)]
    assert [m for m in methods if m in CONTRACT] == CONTRACT
    assert "def fit(" in (ROOT / pkg / "train.py").read_text()


def test_parity_comments_mark_genuine_differences():
    for pkg in ("impl_tensorflow", "impl_keras", "impl_pytorch"):
        assert "# Parity:" in (ROOT / pkg / "wgan.py").read_text(), pkg


@pytest.mark.parametrize("pkg", PACKAGES)
def test_each_wgan_change_is_marked(pkg):
    text = (ROOT / pkg / "wgan.py").read_text()
    for n in (1, 2, 3, 4):
        assert f"WGAN change {n}" in text, (pkg, n)


def test_readme_change_table_is_generated_from_the_marks():
    from shared.suite.code import CHANGE_TABLE_MARKERS, change_table
    readme = (ROOT / "README.md").read_text()
    table = readme.split(CHANGE_TABLE_MARKERS[0])[1].split(CHANGE_TABLE_MARKERS[1])[0].strip("\n") + "\n"
    assert table == change_table(), "README's WGAN-change table is stale: run `wgan-suite code --update-readme`"
    for row in [line for line in table.splitlines() if re.match(r"\| \d\. ", line)]:
        n = int(row[2])
        links = re.findall(r"\((impl_\w+/wgan\.py)#L(\d+)\)", row)
        assert {path.split("/")[0] for path, _ in links} == set(PACKAGES), row
        for path, line in links:
            text = (ROOT / path).read_text().splitlines()[int(line) - 1]
            assert f"WGAN change {n}" in text, f"README says {path}#L{line} is change {n}, but it reads: {text.strip()}"


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
    makefile = (ROOT / "Makefile").read_text()
    assert "wgan-suite compare" in makefile.split("demo:")[1].split("\n\n")[0]
    assert "pytest" in makefile.split("test:")[1].split("\n\n")[0]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_shared_shows_its_layers():
    """Implementations and shared/core/ import nothing from shared/suite/ (the commands build on the core,
    never the other way round), and the core imports no deep-learning framework."""
    def imported(path: Path) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        return names

    lower = [*(ROOT / "shared" / "core").glob("*.py"), *(p for pkg in PACKAGES for p in (ROOT / pkg).glob("*.py"))]
    for path in lower:
        if path.name == "__main__.py":
            continue  # python -m impl_X runs the `train` command: the one way up, on purpose
        bad = sorted(m for m in imported(path) if m.startswith("shared.suite"))
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
    for path in (ROOT / "shared" / "core").glob("*.py"):
        frameworks = sorted(m for m in imported(path) if m.split(".")[0] in ("torch", "tensorflow", "keras", "jax"))
        assert not frameworks, f"{path.relative_to(ROOT)} imports {frameworks}"
    assert sorted(p.name for p in (ROOT / "shared").glob("*.py")) == ["__init__.py"], "shared/ holds only its two layers"
