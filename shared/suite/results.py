"""`wgan-suite results`: is the tutorial's claim true in every framework? A documented grid, one table.

The grid is framework x variant x dataset x seed. Each (variant, dataset) cell is one `wgan-suite
compare` (same data, seeds and shared initial weights for every framework) in OUT/VARIANT-DATASET/, so
every cell has its own report.html with the critic surfaces (toys), weight histograms and quality curves.
Every run of every cell goes to one executor (shared/suite/executors.py: a local pool, or Ray with
`--executor ray`), so a cluster sees the whole grid at once; a finished run is never trained again and an
interrupted one continues from its checkpoint, so a killed grid resumes and a `quick` grid grows into a
`full` one. Each judged cell's summary is also kept as a record beside the page (docs/results/VARIANT-DATASET.json,
committed): the run folders are hours of training that stay out of git and die with a machine, so the page
regenerates from the records and a recorded cell is never trained again. The tables go to docs/results.md in the style of CleanRL's benchmark tables: mean ± std over
seeds, one column per framework, each cell's budget stated.

Variants on MNIST are the presets `tutorial` (the tutorial's script, accidents included), `corrected` (shown
as wgan: the tutorial's algorithm with its accidents fixed), `wgan-gp` and `gan` (shared/core/spec.py:
VARIANTS). On the 2-D sets they are the WGAN-GP paper's toy presets `toy-wgan`, `toy-wgan-gp`, `toy-gan`
(small ReLU MLPs); `tutorial` has no toy form and is skipped there.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.core.machine import cpu_kind
from shared.suite.agreement import PIXEL_STATISTICS
from shared.suite.compare import CompareConfig, compare, reusable_summary, run_jobs, run_name
from shared.suite.executors import execute
from shared.suite.report import plot_surface_table
from shared.suite.quality import QUALITY_DISTANCE, mean_std, seed_values, shown_metrics

VARIANTS = ("tutorial", "wgan", "wgan-gp", "gan")
MNIST_PRESET = {"tutorial": "tutorial", "wgan": "corrected", "wgan-gp": "wgan-gp", "gan": "gan"}
TOY_PRESET = {"wgan": "toy-wgan", "wgan-gp": "toy-wgan-gp", "gan": "toy-gan"}
DATASETS = ("mnist", "8gaussians", "25gaussians", "swissroll")
# Generator iterations per run (every variant gets the same number of generator updates), seeds (the
# reference framework, the first, gets reference_seeds), snapshot spacing. smoke: the tests' pass through the
# code; quick: ~3 h on 2 cores (estimated from measured speeds); full (~20 core-hours): what docs/results.md
# reports, cell by cell as it completes.
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
    train: bool = True        # False (--report-only): judge and write what is done, train nothing
    address: str | None = None  # an existing Ray cluster (executor "ray"); None starts a local one
    records: Path | None = None  # kept copies of judged cells' summaries (default: DOC's folder/results)


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


def run_grid(config: ResultsConfig, log=print, on_cell=None) -> dict[tuple[str, str], dict]:
    """Train every run of every cell through one executor pass (finished runs reused, interrupted ones resumed)
    and judge each cell as compare does as soon as its last run is done; on_cell(summaries so far) after each.
    config.train False: nothing trains; the cells whose runs are all done are judged. Returns (variant, dataset)
    -> compare summary, for the cells judged."""
    cells = {cell: cell_config(config, *cell) for cell in grid_cells(config)}
    summaries = {cell: s for cell, c in cells.items() if (s := reusable_summary(c)) is not None}
    recorded = {cell: s for cell, c in cells.items() if cell not in summaries
                and (s := recorded_summary(config, c, cell)) is not None}
    summaries.update(recorded)
    jobs, pending = {}, {}
    for (variant, dataset), cell in cells.items():
        if (variant, dataset) not in summaries:
            mine = run_jobs(cell, label=f" ({variant} on {dataset})")
            jobs.update({job: ((variant, dataset), pair) for job, pair in mine.items()})
            pending[(variant, dataset)] = set(mine)
    log(f"results: {len(cells)} cells ({len(summaries)} already judged), {len(jobs)} runs, executor {config.executor}")
    for (variant, dataset) in summaries:
        where = record_path(config, (variant, dataset)) if (variant, dataset) in recorded else cells[(variant, dataset)].out / 'summary.json'
        log(f"{variant} on {dataset}: reusing {where}")
    failures: dict = {cell: {} for cell in cells}
    walls: dict = {}

    def finished(job, error) -> None:
        cell, pair = jobs[job]
        failures[cell][pair] = error
        pending[cell].discard(job)
        if pending[cell]:
            return
        variant, dataset = cell
        log(f"{variant} on {dataset}: all runs done; judging and writing {cells[cell].out / 'report.html'}")
        mine = {j: p for j, (c, p) in jobs.items() if c == cell}
        summaries[cell] = compare(cells[cell], trained=(failures[cell], {p: walls[j] for j, p in mine.items() if j in walls}))
        keep_record(config, cell, summaries[cell])
        if on_cell is not None:
            on_cell(summaries)

    if jobs:
        execute(list(jobs), config.executor, config.jobs, config.address, log=log, walls=walls, on_done=finished,
                train=config.train)
    for cell, summary in summaries.items():
        keep_record(config, cell, summary)   # cells judged before records existed, or whose record was deleted
    missing = [f"{v} on {d}" for (v, d) in cells if (v, d) not in summaries]
    if missing:
        log(f"results: not judged (runs not all done): {', '.join(missing)}")
    return {cell: summaries[cell] for cell in cells if cell in summaries}


def record_path(config: ResultsConfig, cell: tuple[str, str]) -> Path | None:
    return None if config.records is None else config.records / f"{cell[0]}-{cell[1]}.json"


def recorded_summary(config: ResultsConfig, cell_config: CompareConfig, cell: tuple[str, str]) -> dict | None:
    """The kept record of a cell judged earlier (maybe on another machine) when it matches the cell at this
    budget (as reusable_summary), was trained on the same data and with the installed library versions (as a
    finished run folder must be: executors.plan); else None, and the cell is trained."""
    path = record_path(config, cell)
    summary = None if path is None else reusable_summary(cell_config, path)
    if summary is None:
        return None
    from shared.core.data import load_dataset
    from shared.suite.executors import installed_versions
    sha = load_dataset(cell_config.dataset, cell_config.data_dir, quiet=True).sha256
    same_versions = all(v == installed_versions(v) for v in summary.get("versions", {}).values())
    return summary if summary.get("dataset", {}).get("sha256") == sha and same_versions else None


def keep_record(config: ResultsConfig, cell: tuple[str, str], summary: dict) -> None:
    """Write a judged cell's summary to the records folder (atomically; unchanged files are not rewritten)."""
    path = record_path(config, cell)
    if path is None:
        return
    text = json.dumps(summary, indent=1, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def grid_progress(config: ResultsConfig) -> dict[tuple[str, str], tuple[int, int]]:
    """(finished runs, runs) of every cell of the grid at its budget, read from the run folders."""
    from shared.suite.executors import plan
    out = {}
    for cell in grid_cells(config):
        mine = run_jobs(cell_config(config, *cell))
        out[cell] = (sum(plan(job)[0] == "done" for job in mine), len(mine))
    return out


# ---------------------------------------------------------------------------------------------------
# The tutorial's three claims, answered by rules fixed before the full grid ran
# ---------------------------------------------------------------------------------------------------
DIVERGED_FACTOR = 2.0      # a run whose final quality distance is > 2x the best it reached has come apart
COLLAPSED_CLASSES = 5      # MNIST: fewer than 5 of 10 digits with >= 5% of the samples
COLLAPSED_MODE_SHARE = 0.5  # 8/25gaussians: fewer than half the modes hit
MEANINGFUL_RHO = 0.5       # the loss "tracks quality": Spearman rho(W estimate, distance) >= 0.5 on average


def run_outcome(quality: dict, dataset: str) -> str:
    """'ok', 'diverged' (non-finite or final distance > DIVERGED_FACTOR x its best) or 'collapsed'."""
    series = np.array(quality.get("distance_series", []), dtype=float)
    if not series.size or not np.isfinite(series[-1]):
        return "diverged"
    if series[-1] > DIVERGED_FACTOR * np.nanmin(series):
        return "diverged"
    final = quality["final"]
    if dataset in ("mnist", "fashion-mnist"):
        return "collapsed" if final.get("classes_covered", 10) < COLLAPSED_CLASSES else "ok"
    total = final.get("modes_total") or 0
    if total and final.get("modes_hit", 0) < COLLAPSED_MODE_SHARE * total:
        return "collapsed"
    return "ok"


def _outcomes(summaries: dict, variant: str, framework: str, datasets=None) -> list[str]:
    out = []
    for (v, dataset), summary in summaries.items():
        if v != variant or (datasets is not None and dataset not in datasets):
            continue
        out += [run_outcome(q, dataset) for q in summary["quality"].get(framework, []) if q]
        out += ["failed" for k in summary["failures"] if k.startswith(framework + " ")]
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _over_datasets(summaries: dict, variant: str, framework: str, key: str) -> float:
    """The mean of `key` over every seed and dataset the grid has for one variant and framework."""
    return _mean([x for (v, _), summary in summaries.items() if v == variant
                  for x in seed_values(summary, framework, key)])


def claims_markdown(config: ResultsConfig, summaries: dict[tuple[str, str], dict]) -> list[str]:
    """The opening section: the three claims, one table each (variant x framework), with the rule that decides."""
    frameworks, lines = config.frameworks, ["## The tutorial's claims, answered", ""]
    variants = [v for v in config.variants if any(c[0] == v for c in summaries)]
    lines += ["Rules fixed before the full grid ran (shared/suite/results.py): a run **diverged** when it failed, or its "
              f"final quality distance (FD on MNIST, W1 on the 2-D sets) is over {DIVERGED_FACTOR:g}x the best it reached; "
              f"it **collapsed** when fewer than {COLLAPSED_CLASSES} of 10 digits get >= 5% of the samples (MNIST) or it "
              f"hits fewer than half the modes (8/25gaussians). Mode coverage holds when the variant covers at least the GAN's share of modes and digits, averaged over datasets. The loss is **meaningful** when rho(W estimate, quality "
              f"distance) along the run averages >= {MEANINGFUL_RHO:g}. Each cell counts every seed and dataset the grid "
              "has for that variant. Where the GAN itself neither came apart nor lost a mode, stability and mode "
              "coverage read *untested* (a reading added after the MNIST cells were judged; no threshold changed).",
              "",
              "**1. Stability** — runs that diverged or collapsed (WGAN's claim: fewer than the GAN's)", "",
              "| variant | " + " | ".join(frameworks) + " |", "|---|" + "---|" * len(frameworks)]
    for v in variants:
        cells = []
        for fw in frameworks:
            outcomes = _outcomes(summaries, v, fw)
            bad = sum(o != "ok" for o in outcomes)
            detail = ", ".join(f"{sum(o == k for o in outcomes)} {k}" for k in ("diverged", "collapsed", "failed")
                               if any(o == k for o in outcomes))
            cells.append(f"{bad}/{len(outcomes)}" + (f" ({detail})" if detail else "") if outcomes else "—")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    lines += ["", "**2. Mode collapse** — digits with >= 5% of the samples (of 10) on MNIST; modes hit on the 2-D sets "
              "(mean over seeds)", "", "| variant | dataset | " + " | ".join(frameworks) + " |",
              "|---|---|" + "---|" * len(frameworks)]
    shares: dict = {}   # (variant, framework) -> covered share of modes or digits, per dataset
    for (v, dataset), summary in summaries.items():
        key = "classes_covered" if dataset in ("mnist", "fashion-mnist") else "modes_hit"
        if dataset == "swissroll":
            continue
        total = next((q["final"].get("modes_total") for qs in summary["quality"].values() for q in qs if q), None)
        for fw in frameworks:
            if seed_values(summary, fw, key):
                shares.setdefault((v, fw), {})[dataset] = _mean(seed_values(summary, fw, key)) / (total or 10)
        lines.append(f"| {v} | {dataset} | " + " | ".join(
            (f"{_mean(seed_values(summary, fw, key)):.1f}" + (f" / {total}" if key == "modes_hit" and total else " / 10"))
            if seed_values(summary, fw, key) else "—" for fw in frameworks) + " |")
    lines += ["", "**3. A meaningful loss** — mean rho(W estimate, quality distance) over seeds and datasets", "",
              "| variant | " + " | ".join(frameworks) + " |", "|---|" + "---|" * len(frameworks)]
    rho = {}
    for v in variants:
        for fw in frameworks:
            rho[(v, fw)] = _over_datasets(summaries, v, fw, "spearman")
        lines.append(f"| {v} | " + " | ".join(f"{rho[(v, fw)]:+.2f}" if np.isfinite(rho[(v, fw)]) else "—"
                                               for fw in frameworks) + " |")
    lines += ["", "The same over the second half of each run's snapshots (information, not the rule: an estimate that "
              "moves against quality early, while the critic is still learning, and tracks it later reads low over "
              "the whole run; and any two quantities that both drift over a run correlate, which the GAN's row "
              "measures):", "",
              "| variant | " + " | ".join(frameworks) + " |", "|---|" + "---|" * len(frameworks)]
    for v in variants:
        late = [_over_datasets(summaries, v, fw, "spearman_late") for fw in frameworks]
        lines.append(f"| {v} | " + " | ".join(f"{x:+.2f}" if np.isfinite(x) else "—" for x in late) + " |")
    verdicts = {}  # (claim, variant, framework) -> (word, evidence)
    for fw in frameworks:
        for v in [x for x in variants if x in WGAN_VARIANTS]:
            # Against the GAN on the datasets both have judged cells for, never a partial grid's other datasets.
            both = {d for (x, d) in summaries if x == v} & {d for (x, d) in summaries if x == "gan"}
            ours_runs, gan_runs = _outcomes(summaries, v, fw, both), _outcomes(summaries, "gan", fw, both)
            if ours_runs and gan_runs:
                ours = sum(o != "ok" for o in ours_runs) / len(ours_runs)
                gans = sum(o != "ok" for o in gan_runs) / len(gan_runs)
                word = "untested" if ours == gans == 0 else "holds" if ours < gans else "FAILS"
                verdicts[("stability", v, fw)] = (word, f"{ours:.0%} unstable, GAN {gans:.0%}")
            covered = [d for d in shares.get((v, fw), {}) if d in shares.get(("gan", fw), {})]
            if covered:
                ours = _mean([shares[(v, fw)][d] for d in covered])
                gans = _mean([shares[("gan", fw)][d] for d in covered])
                word = "untested" if min(ours, gans) >= 1.0 else "holds" if ours >= gans else "FAILS"
                verdicts[("mode coverage", v, fw)] = (word, f"{ours:.0%} covered, GAN {gans:.0%}")
            if np.isfinite(rho[(v, fw)]):
                verdicts[("meaningful loss", v, fw)] = ("holds" if rho[(v, fw)] >= MEANINGFUL_RHO else "FAILS",
                                                        f"rho {rho[(v, fw)]:+.2f}")
    lines += ["", "**Verdicts** by the rules above (*untested*: the GAN did not come apart or lose a mode "
              "either, so this grid cannot tell the variants apart on that claim):", ""]
    lines += verdict_summary(verdicts)
    lines += ["", "| claim | variant | " + " | ".join(frameworks) + " |", "|---|---|" + "---|" * len(frameworks)]
    for claim in CLAIMS:
        for v in [x for x in variants if x in WGAN_VARIANTS]:
            if any((claim, v, fw) in verdicts for fw in frameworks):
                lines.append(f"| {claim} | {v} | " + " | ".join(
                    f"{verdicts[(claim, v, fw)][0]} ({verdicts[(claim, v, fw)][1]})" if (claim, v, fw) in verdicts
                    else "—" for fw in frameworks) + " |")
    lines.append("")
    return lines


CLAIMS = ("stability", "mode coverage", "meaningful loss")
WGAN_VARIANTS = ("tutorial", "wgan", "wgan-gp")


def verdict_summary(verdicts: dict[tuple[str, str, str], tuple[str, str]]) -> list[str]:
    """One bullet per claim: per variant, the verdict and the frameworks it holds in."""
    lines = []
    for claim in CLAIMS:
        parts = []
        for v in WGAN_VARIANTS:
            words = {fw: word for (c, vv, fw), (word, _) in verdicts.items() if c == claim and vv == v}
            if not words:
                continue
            kinds = sorted(set(words.values()))
            if len(kinds) == 1:
                parts.append(f"`{v}` {kinds[0]} in " + ("every framework" if len(words) > 1 else next(iter(words))))
            else:
                parts.append(f"`{v}` " + ", ".join(f"{k} in {' and '.join(fw for fw, w in words.items() if w == k)}"
                                                   for k in kinds))
        if parts:
            lines.append(f"- **{claim}**: " + "; ".join(parts) + ".")
    return lines


def accidents_markdown(config: ResultsConfig, summaries: dict[tuple[str, str], dict]) -> list[str]:
    """What the tutorial's accidents cost at this budget: `tutorial` (the script as written) against `wgan`
    (preset `corrected`: the same algorithm, accidents fixed), per framework; [] until both MNIST cells exist."""
    script, fixed = summaries.get(("tutorial", "mnist")), summaries.get(("wgan", "mnist"))
    if script is None or fixed is None:
        return []
    frameworks = config.frameworks
    lines = ["## What the tutorial's accidents cost", "",
             f"The tutorial's script as written (preset `tutorial`: BatchNorm eps 0.8, its per-epoch critic/generator "
             f"schedule, the partial last batch) against the same algorithm with those accidents fixed (preset "
             f"`corrected`, shown as wgan), {script['iterations']} G-its, same seeds, data and initial weights "
             "(docs/tutorial.md measures each accident alone). Cells: tutorial → corrected, means over seeds.", "",
             "| score | " + " | ".join(frameworks) + " |", "|---|" + "---|" * len(frameworks)]
    for key, label, fmt, better in [*shown_metrics("mnist"), ("spearman", "rho(W estimate, FD)", "{:+.2f}", "high")]:
        cells = []
        for fw in frameworks:
            a, b = _mean(seed_values(script, fw, key)), _mean(seed_values(fixed, fw, key))
            cells.append(f"{fmt.format(a)} → {fmt.format(b)}" if np.isfinite(a) and np.isfinite(b) else "—")
        lines.append(f"| {label} ({'lower' if better == 'low' else 'higher'} is better) | " + " | ".join(cells) + " |")
    return lines + [""]


def _cell(summary: dict, framework: str, key: str, fmt: str) -> str:
    values = seed_values(summary, framework, key)
    if not values:
        return "failed" if any(k.startswith(framework + " ") for k in summary["failures"]) else "—"
    mean, std = mean_std(values)
    return f"{fmt.format(mean)} ± {std:.2g}" if len(values) > 1 else fmt.format(mean)


def results_markdown(config: ResultsConfig, summaries: dict[tuple[str, str], dict],
                     progress: dict[tuple[str, str], tuple[int, int]], figure_dir: Path | None, figure_link: str) -> str:
    """docs/results.md: per dataset, one table per score (rows: variant, columns: framework); the cells not yet
    done at this budget are listed as such, never mixed in."""
    any_summary = next(iter(summaries.values()))
    budget = BUDGETS[config.budget]
    training = sum((s.get("timing") or {}).get("training", 0.0) for s in summaries.values())
    # the machines the cells were trained on (a record names its own; older ones were this machine's kind)
    machines = "; ".join(sorted({s.get("machine") or cpu_kind() for s in summaries.values()}))
    pending = [f"{v} on {d} ({done} of {total} runs finished)" for (v, d), (done, total) in progress.items()
               if (v, d) not in summaries]
    lines = [
        "# Results: is the tutorial's claim true in every framework?",
        "",
        f"Reproduce: `wgan-suite results --budget {config.budget}"
        + (f" --frameworks {' '.join(config.frameworks)}" if config.frameworks else "")
        + "` (add `--executor ray` to run it on Ray; it reuses the cells recorded in `docs/results/`, so to "
        "train every cell yourself add `--records my-records --doc my-results.md`). The runs shown took "
        f"{training / 3600:.1f} core-hours of training ({machines}; one thread per run).",
        "",
    ]
    if pending:
        lines += [f"**Not yet at budget `{config.budget}`, so not in the tables below:** {'; '.join(pending)}. "
                  "The grid resumes where it stopped; this page is rewritten as each cell completes.", ""]
    lines += claims_markdown(config, summaries)
    lines += accidents_markdown(config, summaries)
    lines += [
        f"Budget `{config.budget}`: {budget['iterations']['mnist']} generator iterations on MNIST, "
        f"{budget['iterations']['toy']} on the 2-D sets; "
        + (f"{config.seeds} seed(s) per framework" if config.seeds else
           f"{budget['reference_seeds']} seed(s) for {config.frameworks[0]}, {budget['seeds']} for the others")
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
                                          "{:+.2f}", "high"),
                                         ("spearman_late", "the same rho, second half of the run", "{:+.2f}", "high")]
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
        # A recorded cell keeps the verdict it was judged with; say which pixel checks read only the final snapshot.
        older = [variant for variant, summary in cells.items() if summary.get("pixel_statistics") != PIXEL_STATISTICS
                 and any(r["statistic"] == "pixel_mean" for r in summary["agreement"])]
        how = (f"; {', '.join(older)} recorded when the pixel checks still read the final snapshot, not the "
               f"{PIXEL_STATISTICS}" if older else "")
        lines += [f"Cross-framework agreement checks passed (compare's verdict{how}): {', '.join(agreement)}.", ""]
        if figure_dir is not None and dataset not in ("mnist", "fashion-mnist") and len(cells) > 1:
            name = f"surfaces-{dataset}.png"
            finals = {v: {fw: cfg_out / "runs" / run_name(fw, 0) for fw in frameworks
                          if (cfg_out / "runs" / run_name(fw, 0) / "params_final.npz").exists()}
                      for v in cells for cfg_out in [config.out / f"{v}-{dataset}"]}
            shown = {v: runs for v, runs in finals.items() if runs}
            # Every cell's runs at hand: draw. Some cells only as kept records (their run folders gone with a
            # machine): keep the picture drawn when they were at hand, or draw the cells there are.
            if shown and (len(shown) == len(finals) or not (figure_dir / name).exists()):
                plot_surface_table(shown, figure_dir / name, dataset)
            if (figure_dir / name).exists():
                lines += [f"![critic surfaces on {dataset}, variant by framework]({figure_link}/{name})", ""]
        if figure_dir is not None:
            for variant in cells:
                for name in FIGURES:   # from the cell's report, else the copy kept from when it was judged
                    if (config.out / f"{variant}-{dataset}" / "figures" / name).exists():
                        shutil.copyfile(config.out / f"{variant}-{dataset}" / "figures" / name,
                                        figure_dir / f"{variant}-{dataset}-{name}")
                pictures = [f for f in FIGURES if (figure_dir / f"{variant}-{dataset}-{f}").exists()]
                links = ", ".join(f"[{n.removesuffix('.png').replace('_', ' ')}]({figure_link}/{variant}-{dataset}-{n})"
                                  for n in pictures)
                lines.append(f"- {variant}: {links}")
            lines.append("")
    versions = any_summary.get("versions", {})
    lines += ["## Versions", "", *[f"- {fw}: {', '.join(f'{k} {v}' for k, v in vs.items())}"
                                    for fw, vs in versions.items()], "",
              f"Written {time.strftime('%Y-%m-%d')} by `wgan-suite results`. Each cell's full report (samples, "
              "curves, critic surfaces, the agreement table) is `VARIANT-DATASET/report.html` in the grid's "
              f"`--out` folder (here `{config.out}`; run folders stay out of git); the judged cells' summaries are "
              "kept in git beside this page (`results/VARIANT-DATASET.json`), which is what this page is written from.", ""]
    return "\n".join(lines)


def write_doc(config: ResultsConfig, summaries: dict[tuple[str, str], dict]) -> Path | None:
    """Rewrite config.doc from the cells judged so far (atomically); None when there is nothing to write."""
    if config.doc is None or not summaries:
        return None
    figure_dir = config.doc.parent / "img" / "results"
    figure_dir.mkdir(parents=True, exist_ok=True)
    text = results_markdown(config, summaries, grid_progress(config), figure_dir, "img/results")
    tmp = config.doc.with_name(config.doc.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(config.doc)
    return config.doc


def results(config: ResultsConfig, log=print) -> Path | None:
    summaries = run_grid(config, log, on_cell=lambda so_far: write_doc(config, so_far))
    return write_doc(config, summaries)
