"""`wgan-suite results`: is the tutorial's claim true in every framework? A documented grid, one table.

The grid is framework x variant x dataset x seed. Each (variant, dataset) cell is one `wgan-suite
compare` (same data, seeds and shared initial weights for every framework) in OUT/VARIANT-DATASET/, so
every cell has its own report.html with the critic surfaces (toys), weight histograms and quality curves.
Every run of every cell goes to one executor (shared/suite/executors.py: a local pool, or Ray with
`--executor ray`), so a cluster sees the whole grid at once; a finished run is never trained again and an
interrupted one continues from its checkpoint, so a killed grid resumes and a `quick` grid grows into a
`full` one. The tables go to docs/results.md in the style of CleanRL's benchmark tables: mean ± std over
seeds, one column per framework, each cell's budget stated.

Variants on MNIST are the presets `tutorial` (the tutorial's script, accidents included), `corrected` (shown
as wgan: the tutorial's algorithm with its accidents fixed), `wgan-gp` and `gan` (shared/core/spec.py:
VARIANTS). On the 2-D sets they are the WGAN-GP paper's toy presets `toy-wgan`, `toy-wgan-gp`, `toy-gan`
(small ReLU MLPs); `tutorial` has no toy form and is skipped there.
"""

from __future__ import annotations

import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from shared.suite.compare import CompareConfig, compare, reusable_summary, run_jobs
from shared.suite.executors import execute
from shared.suite.quality import QUALITY_DISTANCE, mean_std, seed_values, shown_metrics

VARIANTS = ("tutorial", "wgan", "wgan-gp", "gan")
MNIST_PRESET = {"tutorial": "tutorial", "wgan": "corrected", "wgan-gp": "wgan-gp", "gan": "gan"}
TOY_PRESET = {"wgan": "toy-wgan", "wgan-gp": "toy-wgan-gp", "gan": "toy-gan"}
DATASETS = ("mnist", "8gaussians", "25gaussians", "swissroll")
# Generator iterations per run (every variant gets the same number of generator updates), seeds (the
# reference framework, the first, gets reference_seeds), snapshot spacing. smoke: the tests' pass through the
# code; quick: ~1 h on 2 cores; full: what docs/results.md reports, cell by cell as it completes.
BUDGETS = {
    "smoke": {"iterations": {"mnist": 8, "toy": 8}, "seeds": 1, "reference_seeds": 1,
              "sample_every": {"mnist": 2, "toy": 2}},
    "quick": {"iterations": {"mnist": 1000, "toy": 500}, "seeds": 3, "reference_seeds": 3,
              "sample_every": {"mnist": 100, "toy": 100}},
    "full": {"iterations": {"mnist": 10000, "toy": 3000}, "seeds": 1, "reference_seeds": 3,
             "sample_every": {"mnist": 500, "toy": 100}},
}


def preset_of(variant: str, dataset: str) -> str | None:
    """The preset a variant runs on a dataset (None: not defined there, e.g. the tutorial on a 2-D set)."""
    return (MNIST_PRESET if dataset in ("mnist", "fashion-mnist") else TOY_PRESET).get(variant)
FIGURES = ("quality.png", "critic_surfaces.png", "weight_histograms.png", "losses.png")


@dataclass
class ResultsConfig:
    frameworks: list[str]
    variants: list[str]
    datasets: list[str]
    budget: str
    out: Path
    doc: Path | None
    seeds: int | None = None
    data_dir: str | None = None
    threads: int | None = None
    jobs: int = 2  # two one-thread training processes on two cores beat one two-thread process at batch 64
    executor: str = "local"   # or "ray": shared/suite/executors.py
    address: str | None = None  # an existing Ray cluster (executor "ray"); None starts a local one


def cell_config(config: ResultsConfig, variant: str, dataset: str) -> CompareConfig:
    budget = BUDGETS[config.budget]
    kind = "mnist" if dataset == "mnist" else "toy"
    iterations = budget["iterations"][kind]
    seeds = config.seeds or budget["seeds"]
    return CompareConfig(frameworks=config.frameworks, out=config.out / f"{variant}-{dataset}", iterations=iterations,
                         seeds=seeds, reference_seeds=None if config.seeds else budget["reference_seeds"],
                         sample_every=budget["sample_every"][kind], preset=preset_of(variant, dataset), dataset=dataset,
                         data_dir=config.data_dir, threads=config.threads or 1, jobs=config.jobs,
                         executor=config.executor, address=config.address)


def grid_cells(config: ResultsConfig) -> list[tuple[str, str]]:
    return [(v, d) for d in config.datasets for v in config.variants if preset_of(v, d) is not None]


def run_grid(config: ResultsConfig, log=print) -> dict[tuple[str, str], dict]:
    """Train every run of every cell through one executor pass (finished runs reused, interrupted ones resumed),
    then judge each cell as compare does; returns (variant, dataset) -> compare summary."""
    cells = {cell: cell_config(config, *cell) for cell in grid_cells(config)}
    summaries = {cell: s for cell, c in cells.items() if (s := reusable_summary(c)) is not None}
    jobs = {}
    for (variant, dataset), cell in cells.items():
        if (variant, dataset) not in summaries:
            jobs.update({job: ((variant, dataset), pair) for job, pair in run_jobs(cell, label=f" ({variant} on {dataset})").items()})
    log(f"results: {len(cells)} cells ({len(summaries)} already judged), {len(jobs)} runs, executor {config.executor}")
    walls: dict = {}
    errors = execute(list(jobs), config.executor, config.jobs, config.address, log=log, walls=walls) if jobs else {}
    for k, ((variant, dataset), cell) in enumerate(cells.items(), 1):
        if (variant, dataset) in summaries:
            log(f"[{k}/{len(cells)}] {variant} on {dataset}: reusing {cell.out / 'summary.json'}")
            continue
        mine = {job: pair for job, (c, pair) in jobs.items() if c == (variant, dataset)}
        failures = {pair: errors[job] for job, pair in mine.items()}
        log(f"[{k}/{len(cells)}] {variant} on {dataset}: judging and writing {cell.out / 'report.html'}")
        summaries[(variant, dataset)] = compare(cell, trained=(failures, {pair: walls[job] for job, pair in mine.items()
                                                                          if job in walls}))
    return {cell: summaries[cell] for cell in cells}


def _cell(summary: dict, framework: str, key: str, fmt: str) -> str:
    values = seed_values(summary, framework, key)
    if not values:
        return "failed" if any(k.startswith(framework + " ") for k in summary["failures"]) else "—"
    mean, std = mean_std(values)
    return f"{fmt.format(mean)} ± {std:.2g}" if len(values) > 1 else fmt.format(mean)


def results_markdown(config: ResultsConfig, summaries: dict[tuple[str, str], dict], seconds: float,
                     figure_dir: Path | None, figure_link: str) -> str:
    """docs/results.md: per dataset, one table per score (rows: variant, columns: framework)."""
    any_summary = next(iter(summaries.values()))
    budget = BUDGETS[config.budget]
    lines = [
        "# Results: is the tutorial's claim true in every framework?",
        "",
        f"Reproduce: `wgan-suite results --budget {config.budget}"
        + (f" --frameworks {' '.join(config.frameworks)}" if config.frameworks else "")
        + f"` ({seconds / 60:.0f} min here; {platform.processor() or platform.machine()}, "
        f"{config.jobs} training processes at a time).",
        "",
        f"Budget `{config.budget}`: {budget['iterations']['mnist']} generator iterations on MNIST, "
        f"{budget['iterations']['toy']} on the 2-D sets; "
        + (f"{config.seeds} seeds per framework" if config.seeds else
           f"{budget['reference_seeds']} seeds for {config.frameworks[0]}, {budget['seeds']} for the others")
        + f"; scores every {budget['sample_every']['mnist']} (MNIST) or {budget['sample_every']['toy']} (2-D) "
        "iterations from the same fixed z in every framework. Each dataset's section states its cells' budgets. "
        "Variants on MNIST: `tutorial` (the tutorial's script, accidents included), `wgan` = preset `corrected` "
        "(clipping, RMSprop 5e-5), `wgan-gp` (penalty 10, Adam 1e-4, betas 0/0.9), `gan` (sigmoid cross-entropy, "
        "Adam 2e-4, betas 0.5/0.999, one discriminator step per generator step), all on the tutorial's networks. "
        "On the 2-D sets: the WGAN-GP paper's toy presets `toy-wgan` (RMSprop 5e-5 as TF1, clip 0.01), "
        "`toy-wgan-gp` (penalty 0.1, Adam 1e-4, betas 0.5/0.9) and `toy-gan`, on ReLU MLPs of 3 x 512. Same data, "
        "seeds and initial weights in every framework. Cells are mean ± std over seeds.",
        "",
        "Scores (shared/suite/metrics.py, floors and ceilings in docs/metrics.md): FD = Fréchet distance of the "
        "classifier's penultimate features to the MNIST test split (real-vs-real is the floor); classes ≥5% = "
        "digits that get at least 5% of the samples (10 = no mode collapse); IS = the classifier's Inception-like "
        "score (max 10); W1 = exact Wasserstein-1 (POT) to fresh real points; modes hit / high-quality share as in "
        "the mode-collapse literature (within 3 standard deviations of a mode). rho = Spearman correlation "
        "between the critic's Wasserstein estimate and the quality distance (FD or W1) over a run's snapshots: "
        "the tutorial's \"meaningful loss\" claim predicts rho near +1 for the WGANs; for the GAN the same "
        "logit gap is shown for contrast.",
        "",
    ]
    frameworks = config.frameworks
    for dataset in config.datasets:
        cells = {v: summaries[(v, dataset)] for v in config.variants if (v, dataset) in summaries}
        if not cells:
            continue
        lines += [f"## {dataset}", "", "Budget: " + "; ".join(
            f"{variant} ({summary.get('preset', '?')}) {summary['iterations']} G-its x "
            + ", ".join(f"{len(summary['quality'].get(fw, []))} {fw}" for fw in frameworks)
            for variant, summary in cells.items()) + " seed(s).", ""]
        rows = shown_metrics(dataset) + [("spearman", f"rho(W estimate, {QUALITY_DISTANCE[dataset].upper()})",
                                          "{:+.2f}", "high")]
        for key, label, fmt, better in rows:
            lines += [f"**{label}** ({'lower' if better == 'low' else 'higher'} is better)", "",
                      "| variant | " + " | ".join(frameworks) + " |", "|---|" + "---|" * len(frameworks)]
            for variant, summary in cells.items():
                lines.append(f"| {variant} | " + " | ".join(_cell(summary, fw, key, fmt) for fw in frameworks) + " |")
            lines.append("")
        agreement = []
        for variant, summary in cells.items():
            failed = sum(r["passed"] is False for r in summary["agreement"])
            tested = sum(r["passed"] is not None for r in summary["agreement"])
            agreement.append(f"{variant} {tested - failed}/{tested}")
        lines += [f"Cross-framework agreement checks passed (compare's verdict): {', '.join(agreement)}.", ""]
        if figure_dir is not None:
            for variant in cells:
                pictures = [f for f in FIGURES if (config.out / f"{variant}-{dataset}" / "figures" / f).exists()]
                for name in pictures:
                    target = figure_dir / f"{variant}-{dataset}-{name}"
                    shutil.copyfile(config.out / f"{variant}-{dataset}" / "figures" / name, target)
                links = ", ".join(f"[{n.removesuffix('.png').replace('_', ' ')}]({figure_link}/{variant}-{dataset}-{n})"
                                  for n in pictures)
                lines.append(f"- {variant}: {links}")
            lines.append("")
    versions = any_summary.get("versions", {})
    lines += ["## Versions", "", *[f"- {fw}: {', '.join(f'{k} {v}' for k, v in vs.items())}"
                                    for fw, vs in versions.items()], "",
              f"Written {time.strftime('%Y-%m-%d')} by `wgan-suite results`; each cell's full report is "
              f"`{config.out}/VARIANT-DATASET/report.html`.", ""]
    return "\n".join(lines)


def results(config: ResultsConfig, log=print) -> Path | None:
    summaries = run_grid(config, log)
    if config.doc is None:
        return None
    figure_dir = config.doc.parent / "img" / "results"
    figure_dir.mkdir(parents=True, exist_ok=True)
    seconds = sum(summary["seconds"] for summary in summaries.values())  # reused cells count their own time
    text = results_markdown(config, summaries, seconds, figure_dir, "img/results")
    tmp = config.doc.with_name(config.doc.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(config.doc)
    return config.doc
