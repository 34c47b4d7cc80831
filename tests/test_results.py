"""`wgan-suite results` end to end on its smoke budget: the grid runs every cell through compare, scores
the samples, writes the Markdown tables and figures, and reuses finished cells when run again."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from shared.suite.quality import spearman


def test_spearman_sees_a_loss_that_tracks_quality():
    import numpy as np
    distance = np.array([300.0, 200.0, 120.0, 80.0, 60.0, 55.0])
    assert spearman(distance * 0.01 + 0.3, distance) == pytest.approx(1.0)
    assert spearman(-distance, distance) == pytest.approx(-1.0)
    assert np.isnan(spearman(np.ones(6), distance))  # a constant estimate says nothing
    assert np.isnan(spearman(np.array([1.0, np.nan, np.nan, np.nan, 2.0, 3.0]), distance))  # too few pairs


@pytest.mark.slow
def test_results_grid_on_a_local_ray_cluster_resumes_writes_the_table_and_reuses_finished_cells(tmp_path):
    """The grid's runs as Ray tasks on a real local Ray cluster; interrupted (Ctrl-C) after its first finished run,
    then run again: the finished runs are not trained again."""
    pytest.importorskip("ray", reason="the ray extra is part of the test install (make setup)")
    out, doc = tmp_path / "grid", tmp_path / "docs" / "results.md"
    cmd = [sys.executable, "-m", "shared.suite.cli", "results", "--budget", "smoke", "--frameworks", "pytorch", "tensorflow",
           "--variants", "wgan", "wgan-gp", "--datasets", "8gaussians", "--out", str(out), "--doc", str(doc),
           "--threads", "1", "--executor", "ray"]
    interrupted = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline and not any('"finished"' in p.read_text() for p in out.glob("*/runs/*/run.json")):
        time.sleep(0.5)
    interrupted.send_signal(signal.SIGINT)
    interrupted.communicate(timeout=120)
    done_before = sum('"finished"' in p.read_text() for p in out.glob("*/runs/*/run.json"))
    assert 1 <= done_before and not doc.exists()
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    planned = re.search(r"runs: 4 planned — (\d+) already done", first.stderr)
    assert planned and int(planned.group(1)) >= done_before, first.stderr[-3000:]
    assert "ray: started a local cluster" in first.stderr
    text = doc.read_text()
    assert "## 8gaussians" in text and "| variant | pytorch | tensorflow |" in text
    w1_rows = re.findall(r"\| (wgan|wgan-gp) \| ([0-9.]+) \| ([0-9.]+) \|", text.split("**W1**")[1].split("**")[0])
    assert [row[0] for row in w1_rows] == ["wgan", "wgan-gp"]
    for _, a, b in w1_rows:  # same seed, data and initial weights: 8 generator iterations apart by float32 noise
        assert 0 < float(a) < 2 and float(b) == pytest.approx(float(a), rel=0.05)
    assert "rho(W estimate, W1)" in text
    assert re.search(r"The runs shown took [0-9.]+ core-hours of training \(.+, [0-9]+ cores; one thread per run\)", text)
    pictures = {p.name for p in (doc.parent / "img" / "results").iterdir()}
    assert {"wgan-8gaussians-critic_surfaces.png", "wgan-gp-8gaussians-critic_surfaces.png",
            "wgan-gp-8gaussians-weight_histograms.png", "wgan-8gaussians-quality.png", "surfaces-8gaussians.png"} <= pictures
    report = (out / "wgan-gp-8gaussians" / "report.html").read_text()
    assert "Sample quality, and does the loss track it?" in report
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and second.stderr.count("reusing") == 2, second.stderr[-2000:]
    w1_table = doc.read_text().split("**W1**")[1].split("**")[0]

    # Each judged cell is kept beside the page (docs/results/*.json, committed): with every run folder gone, as on
    # a new machine, the page is written again from the records and nothing trains; a record made with other
    # library versions is not taken (its cell is listed as not done, as a run folder would be retrained).
    records = doc.parent / "results"
    assert sorted(p.name for p in records.iterdir()) == ["wgan-8gaussians.json", "wgan-gp-8gaussians.json"]
    shutil.move(out, tmp_path / "grid-elsewhere")
    kept = (records / "wgan-gp-8gaussians.json").read_text()
    stale = json.loads(kept)
    stale["versions"]["pytorch"]["torch"] = "0.0.1"
    (records / "wgan-gp-8gaussians.json").write_text(json.dumps(stale))
    doc.unlink()
    older = subprocess.run(cmd + ["--report-only"], capture_output=True, text=True, timeout=300)
    assert older.returncode == 0, older.stderr[-2000:]
    assert f"wgan on 8gaussians: reusing {records / 'wgan-8gaussians.json'}" in older.stderr
    assert "wgan-gp on 8gaussians (0 of 2 runs finished)" in doc.read_text()
    (records / "wgan-gp-8gaussians.json").write_text(kept)
    again = subprocess.run(cmd + ["--report-only"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stderr.count("reusing") == 2, again.stderr[-2000:]
    assert doc.read_text().split("**W1**")[1].split("**")[0] == w1_table and "Not yet at budget" not in doc.read_text()
    assert "![critic surfaces on 8gaussians" in doc.read_text()   # the picture kept from when the runs were here
    assert not any(out.glob("*/runs/*/run.json"))   # nothing trained
    (records / "wgan-gp-8gaussians.json").write_text("{ not json")
    broken = subprocess.run(cmd + ["--report-only"], capture_output=True, text=True, timeout=300)
    assert broken.returncode == 2 and len(broken.stderr.strip().splitlines()) == 1, broken.stderr[-2000:]
    assert "wgan-gp-8gaussians.json" in broken.stderr and "delete it" in broken.stderr
    shutil.rmtree(out, ignore_errors=True)   # --report-only made nothing there
    shutil.move(tmp_path / "grid-elsewhere", out)
    (records / "wgan-gp-8gaussians.json").unlink()

    # a cell whose runs are not all done is listed as such, never shown in the tables (--report-only trains nothing)
    (out / "wgan-gp-8gaussians" / "summary.json").unlink()
    (out / "wgan-gp-8gaussians" / "runs" / "tensorflow-s0" / "run.json").unlink()
    partial = subprocess.run(cmd + ["--report-only"], capture_output=True, text=True, timeout=300)
    assert partial.returncode == 0, partial.stderr[-2000:]
    text = doc.read_text()
    assert "Not yet at budget `smoke`" in text and "wgan-gp on 8gaussians (1 of 2 runs finished)" in text
    assert re.findall(r"\| (wgan|wgan-gp) \| [0-9.]+ \|", text.split("**W1**")[1].split("**")[0]) == ["wgan"]
    assert not (out / "wgan-gp-8gaussians" / "runs" / "tensorflow-s0" / "run.json").exists()   # nothing trained


def test_results_refuses_an_unknown_dataset_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "shared.suite.cli", "results", "--datasets", "cifar", "--out",
                           str(tmp_path / "x"), "--doc", "-"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown dataset(s) cifar" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_claim_rules_on_synthetic_runs():
    """The rules behind docs/results.md's verdicts: divergence, collapse, and the per-framework verdict lines."""
    from pathlib import Path

    from shared.suite.results import ResultsConfig, claims_markdown, run_outcome

    def q(series, **final):
        return {"distance_series": series, "final": final, "spearman": final.pop("rho", 0.0)}
    assert run_outcome(q([300.0, 120.0, 90.0], classes_covered=9), "mnist") == "ok"
    assert run_outcome(q([300.0, 90.0, 200.0], classes_covered=9), "mnist") == "diverged"      # 200 > 2 x 90
    assert run_outcome(q([300.0, float("nan")], classes_covered=9), "mnist") == "diverged"
    assert run_outcome(q([300.0, 120.0], classes_covered=4), "mnist") == "collapsed"
    assert run_outcome(q([0.7, 0.1], modes_hit=3, modes_total=8), "8gaussians") == "collapsed"
    assert run_outcome(q([0.7, 0.1], modes_hit=4, modes_total=8), "8gaussians") == "ok"

    def summary(runs, failures=()):
        quality = {"pytorch": [{**r, "final": {**r["final"], "spearman": r["spearman"]}} for r in runs]}
        return {"quality": quality, "failures": {f"pytorch seed {k}": "boom" for k in failures}}
    summaries = {
        ("wgan", "mnist"): summary([q([300.0, 100.0], classes_covered=9, rho=0.8), q([300.0, 110.0], classes_covered=8, rho=0.6)]),
        ("gan", "mnist"): summary([q([300.0, 100.0], classes_covered=3, rho=0.1)], failures=[1]),
    }
    config = ResultsConfig(frameworks=["pytorch"], variants=["wgan", "gan"], datasets=["mnist"], budget="full",
                           out=Path("unused"), doc=None)
    text = "\n".join(claims_markdown(config, summaries))
    assert "| wgan | 0/2 |" in text and "| gan | 2/2 (1 collapsed, 1 failed) |" in text
    assert "| stability | wgan | holds (0% unstable, GAN 100%) |" in text
    assert "| mode coverage | wgan | holds (85% covered, GAN 30%) |" in text
    assert "| meaningful loss | wgan | holds (rho +0.70) |" in text
    assert "- **meaningful loss**: `wgan` holds in pytorch." in text
    # When the GAN neither comes apart nor loses a digit, the grid cannot tell the variants apart: untested.
    summaries[("gan", "mnist")] = summary([q([300.0, 100.0], classes_covered=10, rho=0.1)])
    summaries[("wgan", "mnist")] = summary([q([300.0, 100.0], classes_covered=10, rho=0.2)])
    text = "\n".join(claims_markdown(config, summaries))
    assert "| stability | wgan | untested (0% unstable, GAN 0%) |" in text
    assert "| mode coverage | wgan | untested (100% covered, GAN 100%) |" in text
    assert "| meaningful loss | wgan | FAILS (rho +0.20) |" in text
    # A partial grid: a cell the GAN has no counterpart for yet is not weighed against the GAN's other datasets.
    summaries[("wgan", "8gaussians")] = summary([q([0.7, 0.1], modes_hit=2, modes_total=8, rho=0.9)])
    text = "\n".join(claims_markdown(config, summaries))
    assert "| stability | wgan | untested (0% unstable, GAN 0%) |" in text
    assert "| mode coverage | wgan | untested (100% covered, GAN 100%) |" in text


def test_late_rho_and_what_the_accidents_cost_on_synthetic_runs():
    """rho over the second half sees an estimate that rose early and tracks quality later; the accidents table
    lines the tutorial preset up against the corrected one, per framework."""
    from pathlib import Path

    from shared.suite.quality import late_spearman, spearman
    from shared.suite.results import ResultsConfig, accidents_markdown

    distance = [900.0, 700.0, 500.0, 400.0, 300.0, 250.0, 200.0, 150.0, 120.0, 100.0]
    estimate = [0.01, 0.05, 0.09, 0.10, 0.08, 0.07, 0.06, 0.05, 0.04, 0.03]  # rises, then falls with quality
    run = {"distance_series": distance, "wasserstein_series": estimate, "spearman": 0.0, "final": {"fd": 100.0}}
    assert spearman(np.array(estimate), np.array(distance)) < 0.5 and late_spearman(run) == pytest.approx(1.0)

    def summary(fd, rho):
        return {"iterations": 10000, "failures": {},
                "quality": {"pytorch": [{**run, "spearman": rho, "final": {"fd": fd, "classes_covered": 10.0}}]}}
    config = ResultsConfig(frameworks=["pytorch"], variants=["tutorial", "wgan"], datasets=["mnist"], budget="full",
                           out=Path("unused"), doc=None)
    assert accidents_markdown(config, {("tutorial", "mnist"): summary(274.4, 0.49)}) == []  # needs both cells
    text = "\n".join(accidents_markdown(config, {("tutorial", "mnist"): summary(274.4, 0.49),
                                                 ("wgan", "mnist"): summary(103.2, 0.12)}))
    assert "| FD (lower is better) | 274.4 → 103.2 |" in text and "| rho(W estimate, FD) (higher is better) | +0.49 → +0.12 |" in text


def test_the_agreement_line_names_cells_judged_with_the_final_snapshot():
    """A recorded cell keeps the verdict it was judged with: docs/results.md says which cells' pixel checks read
    only the final snapshot (before compare's summary recorded `pixel_statistics`), and names none once every
    cell was judged the current way."""
    import json
    from pathlib import Path

    from shared.suite.agreement import PIXEL_STATISTICS
    from shared.suite.results import ResultsConfig, results_markdown

    root = Path(__file__).resolve().parents[1]
    recorded = {(v, "mnist"): json.loads((root / "docs" / "results" / f"{v}-mnist.json").read_text())
                for v in ("wgan", "gan")}
    old = {cell: {k: v for k, v in s.items() if k != "pixel_statistics"} for cell, s in recorded.items()}
    config = ResultsConfig(frameworks=["pytorch", "tensorflow", "keras"], variants=["wgan", "gan"],
                           datasets=["mnist"], budget="full", out=Path("unused"), doc=None)

    def agreement_line(summaries):
        text = results_markdown(config, summaries, {}, None, "")
        return next(line for line in text.splitlines() if line.startswith("Cross-framework agreement checks passed"))

    assert "; wgan, gan recorded when the pixel checks still read the final snapshot" in agreement_line(old)
    new = {**old, ("gan", "mnist"): {**old[("gan", "mnist")], "pixel_statistics": PIXEL_STATISTICS}}
    assert "; wgan recorded when" in agreement_line(new)
    both = {cell: {**s, "pixel_statistics": PIXEL_STATISTICS} for cell, s in old.items()}
    assert agreement_line(both).startswith("Cross-framework agreement checks passed (compare's verdict): wgan ")
