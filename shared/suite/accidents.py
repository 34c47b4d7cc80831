"""`wgan-suite accidents`: what each of the tutorial script's accidents costs, measured on the same seeds.

The `tutorial` preset is the script as written; `corrected` fixes three things (shared/core/spec.py:
CORRECTIONS). This command trains one row per fix — the tutorial with that one thing fixed — plus both
ends, with the same seeds, data and initial weights, and tabulates sample quality (FD, classes covered,
class KL) and rho(Wasserstein estimate, FD) per row. Each row is one `wgan-suite compare` in OUT/ROW/
(its report.html has the curves), reused when it already ran with the same frameworks, seeds and length,
so an interrupted measurement continues. The table goes into docs/tutorial.md (and its Chinese edition)
between the `accidents` markers, and the numbers into docs/accidents.json for the compare report.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from shared.suite.compare import CompareConfig, compare_or_reuse
from shared.core.errors import UserError
from shared.core.machine import cpu_kind
from shared.suite.quality import mean_std, seed_values

# (row name, what it is, English and Chinese, the --set overrides on top of the tutorial preset)
ROWS: list[tuple[str, str, str, list[str]]] = [
    ("tutorial", "the script as written", "脚本原样", []),
    ("bn-eps", "BatchNorm eps 1e-5 instead of 0.8", "BatchNorm 的 eps 改为 1e-5（原为 0.8）", ["bn_eps=1e-05"]),
    ("schedule", "Algorithm 1's schedule: n_critic critic steps, then the generator; full batches",
     "论文算法 1 的训练顺序：先 n_critic 步判别器，再一步生成器；只用完整批次",
     ["generator_step_at=last", "counter_restarts_each_epoch=false", "drop_last_batch=true"]),
    ("fresh-z", "a fresh z for the generator step", "生成器那一步重新采样 z", ["generator_reuses_z=false"]),
    ("corrected", "all three fixed (preset `corrected`)", "三处全部改正（预设 `corrected`）",
     ["bn_eps=1e-05", "generator_step_at=last", "counter_restarts_each_epoch=false", "drop_last_batch=true",
      "generator_reuses_z=false"]),
]
BUDGETS = {"smoke": {"iterations": 8, "seeds": 1, "sample_every": 2},
           "quick": {"iterations": 1000, "seeds": 3, "sample_every": 100},
           "full": {"iterations": 10000, "seeds": 3, "sample_every": 500}}
SCORES = [("fd", "FD ↓", "{:.0f}"), ("classes_covered", "classes ≥5% ↑", "{:.1f}"), ("class_kl", "class KL ↓", "{:.3f}"),
          ("spearman", "rho(W, FD) ↑", "{:+.2f}")]
MARKERS = ("<!-- accidents:begin (written by `wgan-suite accidents`) -->", "<!-- accidents:end -->")
DOCS = ("tutorial.md", "tutorial.zh.md")


@dataclass
class AccidentsConfig:
    frameworks: list[str]
    budget: str
    out: Path
    docs: Path | None  # the docs/ folder to write into, or None
    seeds: int | None = None
    data_dir: str | None = None
    threads: int | None = None
    jobs: int = 2


def row_config(config: AccidentsConfig, row: str, overrides: list[str]) -> CompareConfig:
    budget = BUDGETS[config.budget]
    return CompareConfig(frameworks=config.frameworks, out=config.out / row, iterations=budget["iterations"],
                         seeds=config.seeds or budget["seeds"], sample_every=budget["sample_every"], preset="tutorial",
                         overrides=overrides, data_dir=config.data_dir, threads=config.threads, jobs=config.jobs)


def measure(config: AccidentsConfig, log=print) -> dict[str, dict]:
    """Run (or reuse) every row; returns row -> compare summary."""
    return {row: compare_or_reuse(row_config(config, row, overrides), f"[{k}/{len(ROWS)}] {row}", log)
            for k, (row, _, _, overrides) in enumerate(ROWS, 1)}


def table_values(config: AccidentsConfig, summaries: dict[str, dict]) -> dict:
    """{"rows": {row: {framework: {score: [per-seed values]}}}, "budget": ..., ...}: docs/accidents.json."""
    rows = {row: {fw: {key: seed_values(summary, fw, key) for key, _, _ in SCORES} for fw in config.frameworks}
            for row, summary in summaries.items()}
    any_summary = next(iter(summaries.values()))
    return {"budget": config.budget, "iterations": BUDGETS[config.budget]["iterations"],
            "seeds": config.seeds or BUDGETS[config.budget]["seeds"], "frameworks": config.frameworks, "rows": rows,
            "seconds": sum(s["seconds"] for s in summaries.values()), "versions": any_summary.get("versions", {}),
            "machine": cpu_kind(), "written": time.strftime("%Y-%m-%d")}


def table_markdown(values: dict, language: str = "en") -> str:
    """The accidents table (rows: fix, columns: score per framework, mean ± std over seeds)."""
    english = language == "en"
    head = ["what is fixed" if english else "改正了什么"]
    for fw in values["frameworks"]:
        head += [f"{label} ({fw})" if len(values["frameworks"]) > 1 else label for _, label, _ in SCORES]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row, en, zh, _ in ROWS:
        if row not in values["rows"]:
            continue
        cells = [f"`{row}`: {en if english else zh}"]
        for fw in values["frameworks"]:
            for key, _, fmt in SCORES:
                mean, std = mean_std(values["rows"][row][fw][key])
                cells.append("—" if mean != mean else f"{fmt.format(mean)} ± {std:.2g}")
        lines.append("| " + " | ".join(cells) + " |")
    versions = ", ".join(f"{k} {v}" for vs in values["versions"].values() for k, v in vs.items())
    budget = (f"{values['iterations']} generator iterations, {values['seeds']} seeds, MNIST; {values['machine']}; "
              f"{versions}; {values['written']}" if english else
              f"{values['iterations']} 次生成器迭代，{values['seeds']} 个随机种子，MNIST；{values['machine']}；{versions}；{values['written']}")
    note = (f"Budget: {budget}; mean ± std over seeds; same seeds, batches and initial weights in every row. "
            f"Regenerate: `wgan-suite accidents --budget {values['budget']}`." if english else
            f"预算：{budget}；各种子的均值 ± 标准差；每一行的种子、批次与初始权重都相同。"
            f"重新生成：`wgan-suite accidents --budget {values['budget']}`。")
    return "\n".join(lines) + "\n\n" + note + "\n"


def write_between_markers(path: Path, text: str) -> None:
    """Replace what stands between the accidents markers in `path` (which must have them)."""
    content = path.read_text()
    begin, end = MARKERS
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), flags=re.S)
    if not pattern.search(content):
        raise UserError(f"{path} has no accidents markers ({begin} ... {end}); add them where the table belongs")
    path.write_text(pattern.sub(lambda _: f"{begin}\n{text}{end}", content))


def accidents(config: AccidentsConfig, log=print) -> dict:
    if config.budget not in BUDGETS:
        raise UserError(f"unknown budget {config.budget!r}; choose one of {', '.join(BUDGETS)}")
    if config.docs is not None:
        missing = [name for name in DOCS if not (config.docs / name).is_file()]
        if missing:
            raise UserError(f"--docs {config.docs} has no {', '.join(missing)}; point it at the repository's docs/ folder")
    values = table_values(config, measure(config, log))
    if config.docs is not None:
        (config.docs / "accidents.json").write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
        for name, language in zip(DOCS, ("en", "zh")):
            write_between_markers(config.docs / name, table_markdown(values, language))
    return values
