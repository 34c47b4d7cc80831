"""The compare report: one self-contained HTML page (images embedded) plus the PNGs beside it."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from shared.suite.agreement import BEHAVIOUR, STATISTICS, read_jsonl, smooth
from shared.suite.quality import RHO_MIN_SNAPSHOTS, shown_score

# Matched frameworks often draw the very same curve: distinct widths and dashes keep each one visible.
STYLES = {"pytorch": dict(lw=3.0, ls="-"), "tensorflow": dict(lw=1.8, ls="--"), "keras": dict(lw=1.0, ls=":"),
          "keras:torch": dict(lw=1.0, ls="-."), "keras:jax": dict(lw=1.0, ls=(0, (1, 3)))}
COLOURS = {"pytorch": "#ee4c2c", "tensorflow": "#ff9f00", "keras": "#3b7dd8", "keras:torch": "#8e44ad",
           "keras:jax": "#16a085"}


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _runs_logs(runs: dict[str, list[Path]]) -> dict[str, list[list[dict]]]:
    return {fw: [read_jsonl(d / "metrics.jsonl") for d in dirs] for fw, dirs in runs.items()}


def plot_losses(logs, path: Path) -> None:
    """Critic loss, raw (thin) and smoothed (thick), every framework overlaid; seed 0 solid, others dashed."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for fw, seeds in logs.items():
        for k, run in enumerate(seeds):
            x = np.array([r["iteration"] + 1 for r in run])
            loss = np.array([r["critic_loss"] for r in run])
            style = {**STYLES.get(fw, {}), "alpha": 1.0 if k == 0 else 0.5}
            axes[0].plot(x, loss, color=COLOURS.get(fw), alpha=0.2, lw=0.6)
            axes[0].plot(x, smooth(loss, max(5, len(loss) // 25)), color=COLOURS.get(fw),
                         label=fw if k == 0 else None, **style)
            # The WGAN paper (Fig. 3) plots -critic loss, the Wasserstein estimate, median-filtered.
            w = -loss
            med = np.array([np.median(w[max(0, i - 10):i + 11]) for i in range(len(w))])
            axes[1].plot(x, med, color=COLOURS.get(fw), label=fw if k == 0 else None, **style)
    axes[0].set(title="critic loss  -E[D(real)] + E[D(fake)]  (thin: raw; thick: smoothed)",
                xlabel="generator iterations", ylabel="loss")
    axes[1].set(title="Wasserstein estimate  E[D(real)] - E[D(fake)]  (median filter 21)",
                xlabel="generator iterations", ylabel="estimate")
    for ax in axes:
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_critic_outputs(logs, path: Path) -> None:
    """D(real) and D(fake): mean line and min..max band over each batch, one panel per framework."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(logs), figsize=(4.2 * len(logs), 3.4), sharey=True, squeeze=False)
    for ax, (fw, seeds) in zip(axes[0], logs.items()):
        run = seeds[0]
        x = [r["iteration"] + 1 for r in run]
        for which, colour in (("real", "#2a9d8f"), ("fake", "#e76f51")):
            ax.fill_between(x, [r[f"d_{which}_min"] for r in run], [r[f"d_{which}_max"] for r in run],
                            color=colour, alpha=0.25, lw=0)
            ax.plot(x, [r[f"d_{which}_mean"] for r in run], color=colour, lw=1.2, label=f"D({which})")
        ax.set(title=fw, xlabel="generator iterations")
        ax.legend()
    axes[0][0].set_ylabel("critic score")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_clipping(logs, path: Path, clip_value: float) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4))
    for fw, seeds in logs.items():
        run = seeds[0]
        x = [r["iteration"] + 1 for r in run]
        axes[0].plot(x, [r["clipped_share"] for r in run], color=COLOURS.get(fw), label=fw, **STYLES.get(fw, {}))
        axes[1].plot(x, [r["max_abs_weight"] for r in run], color=COLOURS.get(fw), label=fw, **STYLES.get(fw, {}))
    axes[0].set(title="share of critic weights at ±c", xlabel="generator iterations")
    axes[1].axhline(clip_value, color="black", ls=":", label="c")
    axes[1].set(title="max |w| after every critic step (never above c)", xlabel="generator iterations")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_histograms(runs: dict[str, list[Path]], path: Path, clip_value: float) -> None:
    """The critic's weight histogram at the end of each run: clipping piles weights at ±c."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.2), sharey=True, squeeze=False)
    for ax, (fw, dirs) in zip(axes[0], runs.items()):
        snaps = read_jsonl(dirs[0] / "snapshots.jsonl")
        for snap, alpha, label in ((snaps[0], 0.35, "start"), (snaps[-1], 0.9, "end")):
            edges = np.array(snap["hist_edges"])
            ax.stairs(snap["hist_counts"], edges, fill=label == "end", alpha=alpha, color=COLOURS.get(fw), label=label)
        for sign in (-1, 1):
            ax.axvline(sign * clip_value, color="black", ls=":")
        ax.set(title=f"{fw}: critic weights", xlabel="weight (dotted: ±c)", yscale="log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


SURFACE_GRID = np.linspace(-1.1, 1.1, 161)  # the 2-D sets lie within [-1, 1]


def _draw_surface(fig, ax, run_dir: Path, spec: dict, real: np.ndarray, title: str) -> None:
    """One run's critic value surface D(x) over the plane, real points (black) and its generated ones (orange)."""
    from shared.core.params import critic_forward, load_npz
    xx, yy = np.meshgrid(SURFACE_GRID, SURFACE_GRID)
    params = load_npz(run_dir / "params_final.npz")
    scores = critic_forward(params, np.c_[xx.ravel(), yy.ravel()], spec["leaky_slope"]).reshape(xx.shape)
    contour = ax.contourf(xx, yy, scores, levels=20, cmap="viridis")
    fig.colorbar(contour, ax=ax, fraction=0.046)
    fake = np.load(run_dir / "samples" / "final_points.npy")
    ax.scatter(real[:, 0], real[:, 1], s=2, c="black", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="#ff7f0e", label="generated")
    ax.set(title=title, xlim=(-1.1, 1.1), ylim=(-1.1, 1.1), aspect="equal")
    ax.legend(loc="lower left", markerscale=4)


def plot_toy_surfaces(runs: dict[str, list[Path]], path: Path, dataset: str, spec: dict) -> None:
    """For 2-D toy sets: each framework's critic value surface, real points (black) and generated (orange)."""
    from shared.core.data import load_dataset
    plt = _pyplot()
    real = load_dataset(dataset, quiet=True).test_x[:1024]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.3 * len(runs), 4.2), squeeze=False)
    for ax, (fw, dirs) in zip(axes[0], runs.items()):
        _draw_surface(fig, ax, dirs[0], spec, real, f"{fw}: critic D(x)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_surface_table(rows: dict[str, dict[str, Path]], path: Path, dataset: str) -> None:
    """The WGAN-GP paper's Figure 1 across frameworks: one row per variant (clipping, gradient penalty, GAN), one
    column per framework, each the critic surface of the same seed after the same budget."""
    from shared.core.data import load_dataset
    plt = _pyplot()
    real = load_dataset(dataset, quiet=True).test_x[:1024]
    columns = list(dict.fromkeys(fw for runs in rows.values() for fw in runs))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(4.3 * len(columns), 3.6 * len(rows)), squeeze=False)
    for r, (variant, runs) in enumerate(rows.items()):
        for c, fw in enumerate(columns):
            if fw not in runs:
                axes[r][c].set_axis_off()
                continue
            spec = json.loads((runs[fw] / "spec.json").read_text())
            _draw_surface(fig, axes[r][c], runs[fw], spec, real, f"{variant} — {fw}")
    fig.suptitle(f"{dataset}: critic value surfaces (rows: variant, columns: framework; same seed and budget)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def distance_scale(quality: dict[str, list[dict]]) -> str:
    """'log' where the runs' quality distances span a factor of 3 or more (a long run's FD falls from ~2000 to
    tens), else 'linear': within a narrower range (a short run) a log axis has no major tick inside and labels
    every minor one, side by side (1.39192x10^3 1.39192x10^3 ...)."""
    values = [v for runs in quality.values() for q in runs if q for v in q["distance_series"] if np.isfinite(v) and v > 0]
    return "log" if values and max(values) >= 3 * min(values) else "linear"


def plot_quality(quality: dict[str, list[dict]], path: Path) -> None:
    """Left: the quality distance (FD or W1) along each run. Right: the Wasserstein estimate against it at
    every snapshot — the tutorial's claim is a rising line (the estimate falls as the samples improve)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    distance = next((q["distance"] for runs in quality.values() for q in runs if q), "fd")
    for fw, runs in quality.items():
        for k, q in enumerate(r for r in runs if r):
            style = {**STYLES.get(fw, {}), "alpha": 1.0 if k == 0 else 0.5}
            label = f"{fw} (rho {shown_score('{:+.2f}', q['spearman'])})" if k == 0 else None
            axes[0].plot(q["iterations"], q["distance_series"], color=COLOURS.get(fw), label=fw if k == 0 else None, **style)
            axes[1].plot(q["distance_series"], q["wasserstein_series"], marker="o", ms=3, color=COLOURS.get(fw),
                         label=label, **style)
    name = {"fd": "classifier FD", "w1": "W1 to real points"}[distance]
    scale = distance_scale(quality)
    axes[0].set(title=f"sample quality: {name} (lower is better)", xlabel="generator iterations", ylabel=name,
                yscale=scale)
    axes[1].set(title="Wasserstein estimate vs sample quality (one point per snapshot)", xlabel=name,
                ylabel="E[D(real)] - E[D(fake)], median of 21", xscale=scale)
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_behaviour_strips(summary: dict, path: Path) -> bool:
    """One strip per behaviour statistic: the null's seeds (grey dots), the interval a matched run falls in (the
    band) and each framework's value (coloured marker). False when there is nothing to draw (no null)."""
    null = summary.get("null") or {}
    rows = [r for r in summary["agreement"] if r["phase"] == "behaviour" and r["framework"] != summary["reference"]
            and r["passed"] is not None]
    names = [n for n in BEHAVIOUR if any(r["statistic"] == n for r in rows)]
    if not names or not null.get("values"):
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 0.9 * len(names) + 0.9), squeeze=False)
    jitter = np.random.default_rng(0)
    for ax, name in zip(axes[:, 0], names):
        values = [v[name] for v in null["values"] if name in v]
        ax.scatter(values, jitter.uniform(-0.25, 0.25, len(values)), s=14, color="#999", label="null: reference seeds")
        mine = [r for r in rows if r["statistic"] == name]
        ax.axvspan(min(r["low"] for r in mine), max(r["high"] for r in mine), color="#2a9d8f", alpha=0.15, lw=0,
                   label="interval for a matched run")
        ref = [r for r in summary["agreement"] if r["statistic"] == name and r["framework"] == summary["reference"]]
        for r in ref + mine:
            ax.scatter([r["value"]], [0], s=90, marker="D" if r in ref else "o", color=COLOURS.get(r["framework"], "k"),
                       edgecolor="k", zorder=3, label=r["framework"] + (" (ref)" if r in ref else ""))
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        if BEHAVIOUR[name][0] == "log":
            ax.set_xscale("log")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(6, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (0.9 * len(names) + 0.9)))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def agreement_table(summary: dict, frameworks: list[str]) -> str:
    """HTML rows: each check, one column per framework (value, PASS/FAIL, the interval or the note)."""
    cell = {(r["statistic"], r["framework"]): r for r in summary["agreement"]}
    head = "".join(f"<th>{html.escape(fw)}{' (reference)' if fw == summary['reference'] else ''}</th>"
                   for fw in frameworks)
    table = [f"<tr><th>check</th>{head}<th>what it is</th></tr>"]
    for name, meaning in STATISTICS.items():
        if not all((name, fw) in cell for fw in frameworks):
            continue  # clip_held and clipped_share: clipped critics only
        cells = ""
        for fw in frameworks:
            r = cell[(name, fw)]
            state = "n/a" if r["passed"] is None else "PASS" if r["passed"] else "FAIL"
            if fw == summary["reference"]:
                text = "reference" if r["phase"] == "lockstep" else f"{r['value']:+.4g}"
                cells += f"<td>{text}</td>"
                continue
            if r["phase"] == "lockstep":
                text = "n/a" if r["passed"] is None else f"{r['value']:.1e} {state}"
                detail = r["note"]
            elif r["phase"] == "exact":
                text, detail = f"{'held' if r['value'] == 1.0 else 'broken'} {state}", ""
            else:
                text = f"{r['value']:+.4g} {state}"
                detail = r["note"] if r["passed"] is None else f"[{r['low']:+.3g}, {r['high']:+.3g}]"
            cells += f'<td class="{state.replace("/", "").lower()}">{text} <small>{html.escape(detail)}</small></td>'
        table.append(f"<tr><td>{name}</td>{cells}<td><small>{html.escape(meaning)}</small></td></tr>")
    speed = "".join(f"<td>{np.mean(summary['speed'][fw]):.1f}</td>" for fw in frameworks)
    table.append(f"<tr><td>speed (G-it/s)</td>{speed}<td><small>generator iterations per second</small></td></tr>")
    return "".join(table)


def verdict_paragraph(summary: dict) -> str:
    """What the table's PASS/FAIL mean: the two phases, the null and the family-wise level."""
    from shared.suite.agreement import LOCKSTEP_TOLERANCE, LOCKSTEP_WINDOW
    null = summary.get("null") or {}
    if null.get("source"):
        behaviour = (f"The behaviour checks test each framework's late-run statistics against the null: "
                     f"{html.escape(null['source'])}. A matched run falls inside the interval shown; the intervals are "
                     f"t prediction intervals, Bonferroni-corrected so that a matched comparison is flagged with "
                     f"probability at most {summary['family_alpha']:.0%} in all (measured: docs/agreement.md).")
    else:
        behaviour = ("The behaviour checks are n/a: no null exists for this preset, dataset and length — run "
                     "<code>--seeds 2</code> or more, or <code>wgan-suite calibrate</code> this budget.")
    return (f"<p><b>How to read this table.</b> Lockstep: with the same initial weights, batches and noise, correct "
            f"implementations give the same per-iteration losses, to within {LOCKSTEP_TOLERANCE:g} of the critic's "
            f"scale, over the first {LOCKSTEP_WINDOW} generator iterations (float32 rounding makes runs part much "
            f"later; the note says where); a porting bug parts them at once. {behaviour}</p>")


def quality_table(summary: dict, frameworks: list[str]) -> str:
    """HTML rows: each quality score (mean ± std over seeds) and rho, one column per framework."""
    from shared.suite.quality import mean_std, seed_values, shown_metrics
    rows = shown_metrics(summary["dataset"]["name"]) + [("spearman", "rho(W estimate, quality distance)", "{:+.2f}", "high")]
    out = ["<tr><th>score</th>" + "".join(f"<th>{html.escape(fw)}</th>" for fw in frameworks) + "<th>better</th></tr>"]
    for key, label, fmt, better in rows:
        cells = ""
        for fw in frameworks:
            values = seed_values(summary, fw, key)
            mean, std = mean_std(values)
            cells += f"<td>{shown_score(fmt, mean)}{f' <small>±{std:.2g}</small>' if len(values) > 1 and np.isfinite(std) else ''}</td>"
        out.append(f"<tr><td>{html.escape(label)}</td>{cells}<td>{better}</td></tr>")
    return "".join(out)


def rho_context(summary: dict) -> str:
    """Where the committed measurements put rho for the preset shown: read from docs/accidents.json (same budget,
    3 seeds) so the reader can tell a run's rho from the preset's; empty when there is nothing committed."""
    if not ACCIDENTS_JSON.exists() or summary["dataset"]["name"] != "mnist":
        return ""
    values = json.loads(ACCIDENTS_JSON.read_text())
    fw = values["frameworks"][0]
    rows = values["rows"]
    if summary.get("preset") not in rows:
        return ""
    from shared.suite.quality import mean_std

    def rho(row: str) -> str:
        mean, std = mean_std(rows[row][fw]["spearman"])
        return f"{mean:+.2f} ± {std:.2f}"
    text = (f"Committed measurement ({fw}, {values['iterations']} generator iterations, {values['seeds']} seeds): "
            f"rho {rho(summary['preset'])} for the <code>{html.escape(summary['preset'])}</code> preset")
    if summary["preset"] == "tutorial" and "corrected" in rows and "bn-eps" in rows:
        text += (f", against {rho('corrected')} for <code>corrected</code> and {rho('bn-eps')} with only the BatchNorm "
                 "eps fixed (the accidents table above). With the script's eps 0.8 the critic loss dips deep early "
                 "(to about -10 near generator iteration 30: the loss curves below) and climbs back while FD keeps "
                 "falling, so over a short run the estimate does not track quality; longer runs and the other "
                 "presets: docs/results.md")
    return html.escape(text, quote=False).replace("&lt;code&gt;", "<code>").replace("&lt;/code&gt;", "</code>") + "."


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


ACCIDENTS_JSON = Path(__file__).resolve().parents[2] / "docs" / "accidents.json"


def accidents_section(summary: dict) -> str:
    """For the tutorial and corrected presets on MNIST: the committed `wgan-suite accidents` table (what each
    of the script's accidents costs, measured on the same seeds), so the reader knows what the preset shown
    trades; empty elsewhere or when the table was never measured."""
    if summary.get("preset") not in ("tutorial", "corrected") or summary["dataset"]["name"] != "mnist" \
            or not ACCIDENTS_JSON.exists():
        return ""
    from shared.suite.accidents import ROWS, SCORES
    from shared.suite.quality import mean_std
    values = json.loads(ACCIDENTS_JSON.read_text())
    fw = values["frameworks"][0]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in SCORES)
    rows = [f"<tr><th>what is fixed</th>{head}</tr>"]
    for row, english, _, _ in ROWS:
        if row not in values["rows"]:
            continue
        cells = ""
        for key, _, fmt in SCORES:
            mean, std = mean_std(values["rows"][row][fw][key])
            cells += f"<td>{'—' if mean != mean else fmt.format(mean) + f' ± {std:.2g}'}</td>"
        shown = " <b>(this report's preset)</b>" if row == summary["preset"] else ""
        rows.append(f"<tr><td><code>{row}</code>: {html.escape(english.replace('`', ''))}{shown}</td>{cells}</tr>")
    return (f"<h2>What the tutorial's accidents cost</h2><p>Measured by <code>wgan-suite accidents --budget "
            f"{html.escape(values['budget'])}</code> ({fw}, {values['iterations']} generator iterations, "
            f"{values['seeds']} seeds, the same seeds, batches and initial weights in every row; "
            f"{html.escape(values['machine'])}, {values['written']}). docs/tutorial.md explains each accident.</p>"
            f"<table>{''.join(rows)}</table>")


def write_report(out: Path, summary: dict, runs: dict[str, list[Path]]) -> Path:
    """Write figures/*.png and report.html into `out`; returns the report's path."""
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    logs = _runs_logs(runs)
    clip = summary["spec"]["clip_value"]
    plot_losses(logs, figures / "losses.png")
    plot_critic_outputs(logs, figures / "critic_outputs.png")
    plot_clipping(logs, figures / "clipping.png", clip)
    plot_histograms(runs, figures / "weight_histograms.png", clip)
    has_quality = any(q for runs_ in summary.get("quality", {}).values() for q in runs_)
    if has_quality:
        plot_quality(summary["quality"], figures / "quality.png")
    toy = summary["spec"]["data_dim"] == 2
    if toy:
        plot_toy_surfaces(runs, figures / "critic_surfaces.png", summary["dataset"]["name"], summary["spec"])

    frameworks = list(runs)
    table = agreement_table(summary, frameworks)
    strips = plot_behaviour_strips(summary, figures / "behaviour.png")
    samples = "".join(
        f'<figure>{_img(runs[fw][0] / "samples" / "final.png", f"{fw} samples")}<figcaption>{html.escape(fw)}'
        f"</figcaption></figure>" for fw in frameworks if (runs[fw][0] / "samples" / "final.png").exists())
    failures = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in summary["failures"].items())
    versions = "".join(f"<li><b>{html.escape(fw)}</b>: {html.escape(json.dumps(v))}</li>"
                       for fw, v in summary["versions"].items())
    quality_section = ""
    if has_quality:
        quality_section = (
            "<h2>Sample quality, and does the loss track it?</h2><p>Scores of the fixed-z samples at the end "
            "(shared/suite/metrics.py; floors and ceilings in docs/metrics.md). rho: Spearman correlation between the "
            "critic's Wasserstein estimate and the quality distance over the run's snapshots; the tutorial says "
            f"the estimate tracks quality (rho near +1); n/a: fewer than {RHO_MIN_SNAPSHOTS} snapshots after the first, too few "
            f"for a correlation. {rho_context(summary)}</p>"
            f"<table>{quality_table(summary, frameworks)}</table>{_img(figures / 'quality.png', 'quality along the runs')}")
    mode = "native defaults (each framework's own)" if summary["native"] else f"matched spec, {summary['init']} initial weights"
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WGAN side by side — compare report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1300px; color: #222; }}
img {{ max-width: 100%; }} table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
td.pass {{ background: #e8f6ec; }} td.fail {{ background: #fde8e8; }} td.na {{ background: #f3f3f3; }} figure {{ display: inline-block; margin: 0 1em 1em 0; }}
figure img {{ width: 260px; image-rendering: pixelated; }} .failed {{ color: #b00; }}
</style></head>
<body>
<h1>WGAN side by side: {", ".join(html.escape(f) for f in frameworks)}</h1>
<p>{summary["iterations"]} generator iterations × {summary["seeds"]} seed(s); {html.escape(mode)};
data: {html.escape(summary["dataset"]["source"])} ({summary["dataset"]["train"]} training images).
Reference: {html.escape(str(summary["reference"]))}.</p>
{f'<h2 class="failed">Failed runs</h2><ul class="failed">{failures}</ul>' if failures else ""}
{f'<h2>Critic value surfaces and samples</h2>{_img(figures / "critic_surfaces.png", "critic surfaces")}' if toy else
 f"<h2>Samples from the same z</h2>{samples}"}
<h2>Agreement</h2>{verdict_paragraph(summary)}<table>{table}</table>
{_img(figures / "behaviour.png", "behaviour statistics against the null") if strips else ""}
{accidents_section(summary)}
{quality_section}
<h2>Critic loss and the Wasserstein estimate</h2>{_img(figures / "losses.png", "critic loss curves")}
<h2>Critic outputs on real and fake</h2>{_img(figures / "critic_outputs.png", "critic output ranges")}
<h2>Weight clipping</h2>{_img(figures / "clipping.png", "clipped share over time")}
{_img(figures / "weight_histograms.png", "critic weight histograms")}
<h2>Spec</h2><pre>{html.escape(json.dumps(summary["spec"], indent=1))}</pre>
<h2>Versions</h2><ul>{versions}</ul>
<script>
window.addEventListener("load", () => {{
  const images = Array.from(document.images);
  const ok = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesLoaded = ok + "/" + images.length;
}});
</script>
</body></html>
"""
    path = out / "report.html"
    tmp = path.with_name("report.html.tmp")
    tmp.write_text(page)
    tmp.replace(path)
    return path
