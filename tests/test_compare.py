"""compare: agreement statistics with bands, a report that renders, and a crash that does not sink the rest."""

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import shared.suite.compare as compare_module
from shared.suite.agreement import STATISTICS, smooth
from shared.suite.compare import CompareConfig, compare


def test_smooth_is_a_centred_average():
    np.testing.assert_allclose(smooth(np.array([0.0, 3.0, 0.0, 3.0]), 3), [1.5, 1.0, 2.0, 1.5])
    assert set(STATISTICS) >= {"lockstep", "final_critic_loss", "clip_held", "clipped_share"}


def test_quality_plots_take_a_log_scale_only_where_the_distances_span_one():
    from shared.suite.report import distance_scale
    long_run = {"pytorch": [{"distance_series": [1900.0, 400.0, 60.0]}], "keras": [{}]}
    short_run = {"pytorch": [{"distance_series": [1391.92, 1391.91, float("nan")]}]}
    assert distance_scale(long_run) == "log" and distance_scale(short_run) == "linear"
    assert distance_scale({"pytorch": [{}]}) == "linear"  # no scores at all: nothing to take a log of


def crash_tensorflow(original):
    def command(config, framework, seed, threads):
        if framework == "tensorflow":  # dies mid-run: writes a partial folder, then fails
            out = config.out / "runs" / compare_module.run_name(framework, seed)
            return [sys.executable, "-c", f"import os,sys; os.makedirs({str(out)!r}, exist_ok=True); "
                    "sys.exit('tensorflow crashed at generator iteration 3')"]
        return original(config, framework, seed, threads)
    return command


@pytest.mark.slow
def test_a_crashed_framework_is_reported_and_the_rest_still_comes_out(tmp_path, monkeypatch, mnist):
    monkeypatch.setattr(compare_module, "train_command", crash_tensorflow(compare_module.train_command))
    config = CompareConfig(frameworks=["pytorch", "tensorflow"], out=tmp_path / "cmp", iterations=30, seeds=1,
                           sample_every=10, threads=1)
    summary = compare(config)
    assert summary["failures"] == {"tensorflow seed 0": "tensorflow crashed at generator iteration 3"}
    assert {r["framework"] for r in summary["agreement"]} == {"pytorch"}
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "Failed runs" in page and "tensorflow crashed" in page
    assert (tmp_path / "cmp" / "agreement.csv").read_text().count("PASS") == len(STATISTICS)  # the reference row each


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def render(path):
    """Load the page in headless Chromium and return the DOM after its load handler ran."""
    proc = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={path.parent / 'chromium-profile'}", "--virtual-time-budget=5000",
                           "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def matched(tmp_path_factory, mnist):
    """A short side-by-side run of the three frameworks with the matched spec (the main job, shortened)."""
    out = tmp_path_factory.mktemp("compare") / "matched"
    summary = compare(CompareConfig(frameworks=["pytorch", "tensorflow", "keras"], out=out, iterations=60, seeds=1,
                                    sample_every=20, threads=1))
    return out, summary


@pytest.mark.slow
def test_matched_frameworks_pass_every_agreement_check(matched):
    out, summary = matched
    assert not summary["failures"]
    assert summary["pixel_statistics"] == "median over the second half's snapshots"  # results.md reads it
    rows = summary["agreement"]
    assert {r["framework"] for r in rows} == {"pytorch", "tensorflow", "keras"}
    assert not [r for r in rows if r["passed"] is False]
    assert len(rows) == 3 * len(STATISTICS)
    lockstep = [r for r in rows if r["statistic"] == "lockstep" and r["framework"] != "pytorch"]
    assert len(lockstep) == 2 and all(r["passed"] and r["value"] < 1e-4 for r in lockstep), lockstep
    # no calibration exists for 60 G-its and one seed has no spread: behaviour is n/a, said so, never a silent PASS
    behaviour = [r for r in rows if r["phase"] == "behaviour" and r["framework"] != "pytorch"]
    assert behaviour and all(r["passed"] is None for r in behaviour) and summary["null"]["source"] is None
    assert all(len(v) == 1 and v[0] > 0 for v in summary["speed"].values())


@pytest.mark.slow
def test_the_wall_time_is_accounted_for(matched):
    """compare says where its time went: training, scoring, each run's start-up, its own statistics and
    report; the parts add up to the wall time (the runs are sequential) and training is the largest."""
    from shared.suite.compare import format_timing
    _, summary = matched
    t = summary["timing"]
    parts = t["training"] + t["snapshots_and_scoring"] + t["run_start_up_and_saves"] + t["analysis_and_report"]
    assert parts == pytest.approx(t["wall"], rel=0.02)
    assert t["training"] > 0 and t["overhead"] == pytest.approx(t["wall"] / t["training"])
    line = format_timing(summary)
    assert line.startswith(f"time: {t['wall']:.0f} s = training") and "goal <= 1.25x" in line


@pytest.mark.slow
def test_a_run_too_short_for_rho_says_so_instead_of_nan(matched):
    """60 G-its sampled every 20: three snapshots after the first, fewer than a correlation needs. The
    tables show n/a and say why, in the terminal and the report; never 'nan'."""
    from shared.suite.compare import format_agreement
    out, summary = matched
    text = format_agreement(summary)
    rho_row = next(line for line in text.splitlines() if line.startswith("rho(W, quality)"))
    assert rho_row.split()[2:] == ["n/a"] * 3 and "nan" not in text
    assert "rho n/a: fewer than 4 snapshots after the first, too few for a correlation (snapshots every 20 G-its)" in text
    page = re.sub(r'src="data:[^"]*"', "", (out / "report.html").read_text())  # without the embedded images
    assert "<td>n/a</td>" in page and not re.search(r"\bnan\b", page)


@pytest.mark.slow
def test_native_defaults_show_where_and_by_how_much_ports_differ(tmp_path, mnist):
    from shared.suite.cli import main
    code = main(["compare", "--frameworks", "pytorch", "keras", "--native", "--iterations", "20", "--threads", "1",
                 "--out", str(tmp_path / "native"), "--strict"])
    assert code == 1  # --strict: disagreement is a non-zero exit
    summary = json.loads((tmp_path / "native" / "summary.json").read_text())
    failed = {r["statistic"] for r in summary["agreement"] if r["passed"] is False}
    assert "lockstep" in failed, summary["agreement"]  # each framework's defaults: a different computation at once
    spec_k = json.loads((tmp_path / "native" / "runs" / "keras-s0" / "spec.json").read_text())
    spec_p = json.loads((tmp_path / "native" / "runs" / "pytorch-s0" / "spec.json").read_text())
    assert (spec_k["leaky_slope"], spec_p["leaky_slope"]) == (0.3, 0.01)


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (apt-get install chromium; CI installs it)")
def test_report_renders_in_headless_chromium_with_every_image_loaded(matched):
    out, _ = matched
    dom = render(out / "report.html")
    assert "WGAN side by side" in dom and "Agreement" in dom
    loaded = dom.split('data-images-loaded="')[1].split('"')[0]
    ok, total = map(int, loaded.split("/"))
    assert total == 8 and ok == total, loaded  # 3 sample grids + 4 figures + sample quality
    for name in ("losses", "critic_outputs", "clipping", "weight_histograms"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_toy_compare_draws_critic_surfaces(tmp_path):
    out = tmp_path / "toy"
    summary = compare(CompareConfig(frameworks=["pytorch"], out=out, iterations=20, seeds=1, sample_every=10,
                                    threads=1, dataset="8gaussians"))
    assert summary["spec"]["data_dim"] == 2 and not summary["failures"]
    points = np.load(out / "runs" / "pytorch-s0" / "samples" / "final_points.npy")
    assert points.shape == (1024, 2) and np.abs(points).max() <= 1
    assert (out / "figures" / "critic_surfaces.png").stat().st_size > 10_000
    assert "Critic value surfaces" in (out / "report.html").read_text()


@pytest.mark.parametrize("command", [["compare", "--frameworks", "pytorch"], ["accidents", "--docs", "-"],
                                     ["results", "--frameworks", "pytorch", "--doc", "-"]])
def test_out_naming_a_file_is_one_line_and_writes_nothing(tmp_path, capsys, command):
    from shared.suite.cli import main
    target = tmp_path / "a_file"
    target.write_text("keep me")
    assert main([*command, "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0]
    assert target.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
