"""compare's verdict: lockstep phase, behaviour phase against a null, its false-alarm rate, calibration files,
and the porting-bug catalogue it is measured against."""

import json
from pathlib import Path

import numpy as np
import pytest

from shared.suite import agreement
from shared.suite.agreement import (BEHAVIOUR, LOCKSTEP_TOLERANCE, LOCKSTEP_WINDOW, Null, flagged, load_calibration,
                                    parted_at, prediction_interval, verdict)

ROOT = Path(__file__).resolve().parents[1]


def stats(**changes):
    base = {"final_critic_loss": -0.3, "final_d_real_range": 1.2, "final_d_fake_range": 0.7, "pixel_mean": -0.7,
            "pixel_std": 0.4, "clipped_share": 0.12, "clip_held": 1.0}
    return {**base, **changes}


def null_of(n=19, seed=0):
    """n reference seeds whose statistics scatter around stats() (scales log-normally)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        v = stats()
        for name, (kind, _) in BEHAVIOUR.items():
            v[name] = v[name] * np.exp(rng.normal(0, 0.2)) if kind == "log" else v[name] + rng.normal(0, 0.05)
        values.append(v)
    return Null(list(range(100, 100 + n)), values, "calibration test.json")


def judge(tested: dict, null: Null | None = None, diffs=None, lockstep=True):
    lockstep_diffs = {"keras": [np.full(200, 1e-7) if diffs is None else diffs]} if lockstep else None
    return verdict({"pytorch": [stats()], "keras": [tested]}, {"pytorch": [0], "keras": [0]}, "pytorch",
                   null if null is not None else null_of(), lockstep_diffs)


def test_pixel_statistics_are_the_median_over_the_second_half_so_one_bright_snapshot_does_not_move_them(tmp_path):
    """A clipped WGAN's samples brighten now and then for a snapshot or two; the final snapshot alone made such a
    run an outlier of the null (docs/agreement.md). The median over the second half's snapshots sees through it."""
    log = {"critic_loss": -0.3, "d_real_max": 1.0, "d_real_min": 0.0, "d_fake_max": 0.5, "d_fake_min": 0.0,
           "clipped_share": 0.1, "max_abs_weight": 0.01}
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(log) + "\n" for _ in range(1000)))
    # snapshots at G-its 0, 100, ..., 1000; the second half is 500..1000: six values, the last one bright
    means = [0.0, -0.70, -0.72, -0.73, -0.74, -0.735, -0.74, -0.73, -0.745, -0.738, -0.655]
    stds = [0.02, 0.3, 0.35, 0.38, 0.40, 0.41, 0.40, 0.42, 0.39, 0.41, 0.49]
    (tmp_path / "snapshots.jsonl").write_text("".join(
        json.dumps({"iteration": 100 * k, "pixel_mean": m, "pixel_std": s}) + "\n" for k, (m, s) in enumerate(zip(means, stds))))
    got = agreement.run_statistics(tmp_path, clip_value=0.01)
    assert got["pixel_mean"] == pytest.approx(np.median(means[5:])) == pytest.approx((-0.738 + -0.735) / 2)
    assert got["pixel_std"] == pytest.approx(np.median(stds[5:]))
    # a run with one snapshot in its second half (compare's 100-G-it budget at the default interval): that one
    (tmp_path / "snapshots.jsonl").write_text("".join(
        json.dumps({"iteration": k, "pixel_mean": m, "pixel_std": 0.4}) + "\n" for k, m in ((0, 0.0), (100, -0.5))))
    assert agreement.run_statistics(tmp_path, clip_value=0.01)["pixel_mean"] == -0.5


def test_the_t_prediction_interval_is_the_textbook_one():
    values = np.array([0.0, 1.0, 2.0, 3.0, 4.0])  # mean 2, sd 1.5811
    low, high, centre = prediction_interval(values, 1, 0.05)
    half = 2.7764451 * 1.5811388 * np.sqrt(1 + 1 / 5)  # t_{0.975, 4}
    assert centre == 2.0 and high - centre == pytest.approx(half, rel=1e-6) and centre - low == pytest.approx(half)


def test_a_matched_run_passes_and_each_kind_of_disagreement_is_named():
    assert flagged(judge(stats()), "keras") == []
    for change, expected in ((dict(final_critic_loss=+1.5), "final_critic_loss"), (dict(pixel_std=0.9), "pixel_std"),
                             (dict(final_d_fake_range=7.0), "final_d_fake_range"), (dict(clip_held=0.0), "clip_held"),
                             (dict(clipped_share=0.6), "clipped_share")):
        assert flagged(judge(stats(**change)), "keras") == [expected], change


def test_the_interval_shown_stays_within_what_the_statistic_can_be_and_the_verdict_is_unchanged():
    """A share near 0 with a wide spread: the t interval starts below 0, which no run can reach. The report shows it
    cut at 0; a run at 0 passes as before and a run far above still fails."""
    null = null_of()
    for v in null.values:
        v["clipped_share"] = abs(v["clipped_share"] - 0.12) * 0.5  # 0 .. ~0.1, spread as wide as the centre
    rows = judge(stats(clipped_share=0.0), null)
    row = next(r for r in rows if r.statistic == "clipped_share" and r.framework == "keras")
    raw_low = agreement.prediction_interval([v["clipped_share"] for v in null.excluding([0]).values], 1,
                                            agreement.FAMILY_ALPHA / len(BEHAVIOUR))[0]
    assert raw_low < 0 and row.low == 0.0 and row.high < 1.0 and row.passed
    assert flagged(judge(stats(clipped_share=0.6), null), "keras") == ["clipped_share"]


def test_lockstep_catches_a_run_that_parts_at_once_and_ignores_the_late_parting_of_float32():
    late = np.concatenate([np.full(LOCKSTEP_WINDOW, 2e-5), np.full(500, 0.3)])  # parts long after the window
    rows = judge(stats(), diffs=late)
    row = next(r for r in rows if r.statistic == "lockstep" and r.framework == "keras")
    assert row.passed and row.note == f"parted at G-it {LOCKSTEP_WINDOW}"
    at_once = np.full(200, 0.05)
    assert flagged(judge(stats(), diffs=at_once), "keras") == ["lockstep"]
    assert parted_at(np.array([0.0, 1e-4, 2 * LOCKSTEP_TOLERANCE])) == 2 and parted_at(np.zeros(3)) is None


def test_without_shared_weights_or_a_null_the_checks_say_n_a_rather_than_pass():
    rows = judge(stats(), lockstep=False)
    assert next(r for r in rows if r.statistic == "lockstep" and r.framework == "keras").passed is None
    rows = verdict({"pytorch": [stats()], "keras": [stats(pixel_std=5.0)]}, {"pytorch": [0], "keras": [0]},
                   "pytorch", None, None)
    behaviour = [r for r in rows if r.phase == "behaviour" and r.framework == "keras"]
    assert behaviour and all(r.passed is None and "calibrate" in r.note for r in behaviour)


def test_the_null_leaves_out_the_tested_seed():
    null = null_of(5)
    assert null.excluding([101, 103]).seeds == [100, 102, 104]


def test_the_family_wise_false_alarm_rate_holds_for_draws_from_the_null():
    """2000 matched comparisons (every statistic a fresh draw from the null's distribution, 19 null seeds each):
    the whole verdict flags about 1% of them, Bonferroni being slightly conservative."""
    alarms = 0
    for k in range(2000):
        null = null_of(20, seed=k)
        tested, others = null.values[0], Null(null.seeds[1:], null.values[1:], null.source)
        alarms += bool(flagged(judge(tested, others), "keras"))
    assert alarms / 2000 <= 0.015, alarms
    assert alarms > 0  # not vacuous: the intervals are not so wide that nothing is ever flagged


def test_bonferroni_splits_the_level_between_frameworks():
    null = null_of()
    one = verdict({"pytorch": [stats()], "keras": [stats()]}, {"pytorch": [0], "keras": [0]}, "pytorch", null, None)
    two = verdict({"pytorch": [stats()], "keras": [stats()], "tensorflow": [stats()]},
                  {"pytorch": [0], "keras": [0], "tensorflow": [0]}, "pytorch", null, None)
    width = {r.statistic: r.high - r.low for r in one if r.framework == "keras" and r.phase == "behaviour"}
    wider = {r.statistic: r.high - r.low for r in two if r.framework == "keras" and r.phase == "behaviour"}
    assert all(wider[name] > width[name] for name in width)


def test_a_calibration_file_is_used_only_for_the_spec_it_was_measured_for(tmp_path):
    from shared.core.spec import get_preset
    spec = json.loads(json.dumps(get_preset("tutorial").to_dict()))  # as spec.json holds it
    record = {"preset": "tutorial", "dataset": "mnist", "iterations": 30, "reference": "pytorch",
              "spec": agreement.spec_without_seed(spec), "runs": [{"seed": s, "statistics": stats()} for s in range(5)]}
    (tmp_path / "tutorial-mnist-30.json").write_text(json.dumps(record))
    null = load_calibration("tutorial", spec, "mnist", 30, tmp_path)
    assert null is not None and len(null.values) == 5 and "5 pytorch seeds" in null.source
    assert load_calibration("tutorial", {**spec, "lr": 1e-4}, "mnist", 30, tmp_path) is None  # --set lr=...
    assert load_calibration("tutorial", spec, "mnist", 31, tmp_path) is None


def fake_runs(out: Path, seeds, pixel_means=None) -> dict:
    """Finished 30-G-it tutorial run folders of PyTorch under out (as calibrate leaves them); returns their spec."""
    from shared.core.spec import get_preset
    spec = json.loads(json.dumps(get_preset("tutorial").to_dict()))
    for k, seed in enumerate(seeds):
        run = out / "tutorial-mnist-30" / "runs" / f"pytorch-s{seed}"
        run.mkdir(parents=True)
        (run / "run.json").write_text(json.dumps({"status": "finished", "versions": {}}))
        (run / "spec.json").write_text(json.dumps({**spec, "seed": seed}))
        log = {"critic_loss": -0.3 - 0.01 * k, "d_real_max": 1.0 + 0.01 * k, "d_real_min": 0.0, "d_fake_max": 0.5,
               "d_fake_min": 0.01 * k, "clipped_share": 0.1 + 0.001 * k, "max_abs_weight": 0.01}
        (run / "metrics.jsonl").write_text(json.dumps(log) + "\n")
        pixel_mean = -0.7 - 0.001 * k if pixel_means is None else pixel_means[k]
        (run / "snapshots.jsonl").write_text(json.dumps({"iteration": 30, "pixel_mean": pixel_mean,
                                                          "pixel_std": 0.4 + 0.001 * k}) + "\n")
    return spec


def test_checking_runs_against_another_machines_null_flags_only_the_run_outside_it(tmp_path, monkeypatch):
    """calibrate --check pytorch --null FILE: this machine's runs judged against a committed null, seed by seed."""
    from shared.suite import calibrate as calibrate_module
    from shared.suite import metrics
    monkeypatch.setattr(metrics, "prepare_metrics", lambda dataset: None)
    spec = fake_runs(tmp_path / "runs", range(8), pixel_means=[-0.7 - 0.001 * k for k in range(7)] + [-0.2])
    null = {"preset": "tutorial", "dataset": "mnist", "iterations": 30, "reference": "pytorch",
            "spec": agreement.spec_without_seed(spec),
            "runs": [{"seed": s, "statistics": {**stats(), "pixel_mean": -0.7 - 0.001 * s, "final_critic_loss": -0.3 - 0.01 * s,
                                                "final_d_real_range": 1.0 + 0.01 * s, "final_d_fake_range": 0.5 - 0.01 * s,
                                                "clipped_share": 0.1 + 0.001 * s, "pixel_std": 0.4 + 0.001 * s}}
                     for s in range(8)]}
    (tmp_path / "null.json").write_text(json.dumps(null))
    record = calibrate_module.calibrate(calibrate_module.CalibrateConfig(
        out=tmp_path / "runs", iterations=30, seeds=8, check=["pytorch"], write=None, null=tmp_path / "null.json"),
        log=lambda *_: None)
    row = record["checks"]["pytorch"]
    assert row["runs"] == 8 and row["flagged"] == 1 and row["statistics"] == ["pixel_mean"]
    assert [j["seed"] for j in row["seeds"] if j["flagged"]] == [7]
    assert "of null.json" in (tmp_path / "runs" / "tutorial-mnist-30" / "error_rates.md").read_text()
    # a null with fewer seeds than this machine's runs (or other ones): every run of this machine is still judged
    null["runs"] = null["runs"][:5]
    (tmp_path / "null.json").write_text(json.dumps(null))
    record = calibrate_module.calibrate(calibrate_module.CalibrateConfig(
        out=tmp_path / "runs", iterations=30, seeds=8, check=["pytorch"], write=None, null=tmp_path / "null.json"),
        log=lambda *_: None)
    assert record["checks"]["pytorch"]["runs"] == 8 and [j["seed"] for j in record["checks"]["pytorch"]["seeds"]
                                                         if j["flagged"]] == [7]
    # and the table names the null's size, not this machine's number of runs
    assert record["null_seeds"] == 5
    assert "null: 5 pytorch seeds of null.json" in (tmp_path / "runs" / "tutorial-mnist-30" / "error_rates.md").read_text()


def test_recalibrating_keeps_the_lockstep_partings_of_a_file_written_before_the_spec_gained_fields(tmp_path, monkeypatch):
    """calibrate rewrites a null from finished runs; the partings an earlier --check measured stay, also when that
    file's spec lacks fields added to WGANSpec since (they count as their defaults, as load_calibration reads them)."""
    from shared.suite import calibrate as calibrate_module
    from shared.suite import metrics
    monkeypatch.setattr(metrics, "prepare_metrics", lambda dataset: None)   # no classifier needed to read runs
    spec = fake_runs(tmp_path / "runs", range(3))
    older = {k: v for k, v in agreement.spec_without_seed(spec).items() if k not in ("generator_output", "generator_batch_norm")}
    written = tmp_path / "calibration"
    written.mkdir()
    (written / "tutorial-mnist-30.json").write_text(json.dumps({"spec": older, "lockstep": {"keras": [584]}}))
    calibrate_module.calibrate(calibrate_module.CalibrateConfig(out=tmp_path / "runs", iterations=30, seeds=3,
                                                                write=written), log=lambda *_: None)
    data = json.loads((written / "tutorial-mnist-30.json").read_text())
    assert data["lockstep"] == {"keras": [584]} and len(data["runs"]) == 3


def test_the_committed_calibrations_are_complete_and_name_their_command():
    files = sorted(agreement.CALIBRATION_DIR.glob("*.json"))
    assert files, "no committed calibration: the default compare would have no behaviour null"
    for path in files:
        data = json.loads(path.read_text())
        assert len(data["runs"]) >= 10 and data["command"].startswith("wgan-suite calibrate")
        assert path.stem == f"{data['preset']}-{data['dataset']}-{data['iterations']}"
        assert all(set(run["statistics"]) >= set(BEHAVIOUR) - {"clipped_share"} for run in data["runs"])
    assert (agreement.CALIBRATION_DIR / "tutorial-mnist-1000.json").exists()  # the default compare's budget


def test_the_committed_calibrations_hold_for_their_presets_spec_today():
    """A spec field added after a calibration was measured (e.g. generator_output) counts as its default, so the
    default compare keeps its null; a field that really differs still refuses it."""
    from shared.core.spec import get_preset
    for path in sorted(agreement.CALIBRATION_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        spec = json.loads(json.dumps(get_preset(data["preset"]).to_dict()))  # as a new run's spec.json holds it
        null = load_calibration(data["preset"], spec, data["dataset"], data["iterations"])
        assert null is not None, f"{path.name} no longer matches the {data['preset']} preset's spec"
        assert load_calibration(data["preset"], {**spec, "generator_output": "linear"}, data["dataset"],
                                data["iterations"]) is None


# --- the porting-bug catalogue ------------------------------------------------------------------------------------
def test_every_porting_bug_changes_what_is_computed_and_the_base_does_not():
    """Each bug module trains two critic steps and a generator step from the same weights and inputs as
    examples.torch_wgan; every bug changes a loss or a parameter (BatchNorm's running statistics included)."""
    from examples.porting_bugs import CATALOGUE
    from shared.core.params import init_params
    from shared.core.protocol import build
    from shared.core.spec import get_preset
    spec = get_preset("tutorial")
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (64, 784)).astype(np.float32)
    z = rng.standard_normal((64, 100)).astype(np.float32)

    def trace(framework):
        wgan = build(framework, spec, init_params(spec, 0))
        losses = [wgan.critic_step(real, z)["critic_loss"], wgan.critic_step(real, z)["critic_loss"],
                  wgan.generator_step(z)["generator_loss"]]
        return np.array(losses), wgan.get_params()

    base_losses, base_params = trace("examples.torch_wgan")
    again, again_params = trace("examples.torch_wgan")
    assert np.array_equal(base_losses, again)
    assert len(CATALOGUE) >= 10
    for name in CATALOGUE:
        losses, params = trace(f"examples.porting_bugs.{name}")
        moved = max(float(np.max(np.abs(params[k] - base_params[k]))) for k in base_params)
        assert not np.array_equal(losses, base_losses) or moved > 1e-6, name
