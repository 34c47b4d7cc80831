"""The command line: a short real run writes a complete run folder; every user mistake is one line, exit 2."""

import json
import subprocess
import sys

import numpy as np
import pytest

from shared.suite.cli import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "shared.suite.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_train_pytorch_writes_a_complete_run_folder(tmp_path, mnist):
    out = tmp_path / "run"
    code = main(["train", "--framework", "pytorch", "--steps", "100", "--sample-every", "10", "--out", str(out),
                 "--threads", "1", "--progress", "none"])
    assert code == 0
    assert {"run.json", "spec.json", "metrics.jsonl", "snapshots.jsonl", "params_final.npz", "optimizer_final.npz"} <= {
        p.name for p in out.iterdir()}
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the tutorial's schedule: generator steps after critic steps 0, 5, ..., 95 of the 100 asked for
    assert [log["iteration"] for log in logs] == list(range(20)) and logs[-1]["step"] == 96
    assert {p.name for p in (out / "samples").iterdir()} == {"iter_000000.png", "iter_000010.png", "iter_000020.png", "final.png"}
    assert (out / "samples" / "final.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "finished" and info["dataset"]["train"] == len(mnist.train_x)
    assert "torch" in info["versions"] and info["dataset"]["sha256"] == mnist.sha256
    spec = json.loads((out / "spec.json").read_text())
    assert spec["bn_eps"] == 0.8 and spec["rms_eps_placement"] == "outside"
    with np.load(out / "params_final.npz") as params:
        assert params["critic.dense0.kernel"].shape == (784, 512)


def test_the_program_leaves_without_teardown_but_with_its_output_and_exit_status():
    """program() (the wgan-suite script, python -m shared.suite.cli) ends with os._exit once main() is done:
    an atexit handler (teardown) never runs, yet everything printed arrives and the exit status is main()'s."""
    code = ("import atexit, sys; import shared.suite.cli as cli; atexit.register(print, 'TEARDOWN RAN'); "
            "sys.argv = ['wgan-suite', *sys.argv[1:]]; cli.program()")
    spec = subprocess.run([sys.executable, "-c", code, "spec"], capture_output=True, text=True)
    assert spec.returncode == 0 and "TEARDOWN RAN" not in spec.stdout + spec.stderr
    assert json.loads(spec.stdout)["variant"] == "wgan"   # the whole JSON, flushed before the exit
    bad = subprocess.run([sys.executable, "-c", code, "spec", "--preset", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("wgan-suite: error:") and "TEARDOWN RAN" not in bad.stdout


def test_same_seed_same_run_bit_for_bit(tmp_path, mnist):
    for name in ("a", "b"):
        assert main(["train", "--steps", "25", "--out", str(tmp_path / name), "--threads", "1", "--progress", "none"]) == 0
    a = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    strip = lambda logs: [{k: v for k, v in log.items() if k != "seconds"} for log in logs]  # noqa: E731
    assert strip(a) == strip(b)


@pytest.mark.parametrize("args, words", [
    (["train", "--preset", "tutoral"], "unknown preset 'tutoral'"),
    (["train", "--set", "clip_value=0"], "clip_value"),
    (["train", "--set", "n_critic=0"], "n_critic"),
    (["train", "--set", "lr=-1"], "lr"),
    (["train", "--set", "batch_size=1"], "BatchNorm"),
    (["train", "--set", "learning_rate=1"], "unknown spec field"),
    (["train", "--data-dir", "/no/such/folder"], "no MNIST files"),
    (["train", "--steps", "0"], "0 generator iterations"),
    (["train", "--steps", "3", "--preset", "corrected"], "first generator step follows critic step 5"),
    (["parity", "--perturb", "tensorflow"], "FRAMEWORK:FIELD=VALUE"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, args, words):
    out = tmp_path / "never"
    proc = run_cli(*args, "--out", str(out)) if args[0] == "train" else run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("args, words", [
    (["compare", "--out", "{file}"], "is a file, not a folder"),
    (["compare", "--out", "/proc/no/such"], "not a folder this user can write in"),
    (["compare", "--frameworks", "pytorch", "no_such_module", "--out", "{new}"], "unknown framework 'no_such_module'"),
    (["compare", "--frameworks", "shared.core", "--out", "{new}"], "has no build_wgan"),
    (["compare", "--data-dir", "{new}", "--out", "{new}"], "no MNIST files"),
    (["compare", "--iterations", "0", "--out", "{new}"], "--iterations: 0 is too small"),
    (["compare", "--seeds", "-1", "--out", "{new}"], "--seeds: -1 is too small"),
    (["compare", "--threads", "two", "--out", "{new}"], "'two' is not a whole number"),
    (["results", "--out", "{file}"], "is a file, not a folder"),
    (["results", "--doc", "{folder}", "--out", "{new}"], "is a folder; give the Markdown file"),
    (["results", "--doc", "/proc/no/such/results.md", "--out", "{new}"], "not a folder this user can write in"),
    (["results", "--frameworks", "no_such_module", "--out", "{new}"], "unknown framework 'no_such_module'"),
    (["results", "--data-dir", "{new}", "--datasets", "mnist", "--out", "{new}"], "no MNIST files"),
    (["calibrate", "--out", "{file}"], "is a file, not a folder"),
    (["calibrate", "--write-to", "{file}", "--out", "{new}"], "is a file, not a folder"),
    (["calibrate", "--check", "no_such_module", "--out", "{new}"], "unknown framework 'no_such_module'"),
    (["calibrate", "--seeds", "3", "--out", "{new}"], "at least 4 seeds"),
    (["calibrate", "--preset", "tutoral", "--out", "{new}"], "unknown preset 'tutoral'"),
    (["calibrate", "--null", "{file}", "--check", "pytorch", "--out", "{new}"], "not a calibration file"),
    (["calibrate", "--null", "shared/suite/calibration/tutorial-mnist-1000.json", "--check", "pytorch",
      "--iterations", "100", "--out", "{new}"], "was measured for other runs"),
    (["calibrate", "--null", "shared/suite/calibration/tutorial-mnist-1000.json", "--out", "{new}"], "add --check"),
])
def test_compare_results_and_calibrate_refuse_bad_paths_and_frameworks_in_one_line(tmp_path, args, words):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    new = tmp_path / "never"
    args = [a.format(file=a_file, new=new, folder=tmp_path) for a in args]
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], proc.stderr
    assert not new.exists() and a_file.read_text() == "not a folder"  # nothing half-written


def test_existing_output_folder_is_refused_and_left_alone(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    proc = run_cli("train", "--steps", "10", "--out", str(out))
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert (out / "precious.txt").read_text() == "keep me"


def test_missing_framework_names_the_extra(monkeypatch):
    import shared.core.protocol as protocol
    from shared.core.errors import UserError
    monkeypatch.setitem(protocol.FRAMEWORKS, "pytorch", ("impl_not_installed", "pytorch", None))
    with pytest.raises(UserError, match=r"not installed.*pip install -e '\.\[pytorch\]'"):
        protocol.load_implementation("pytorch")


def test_standalone_entry_point_takes_the_tutorial_flags(tmp_path, mnist):
    proc = subprocess.run([sys.executable, "-m", "impl_pytorch", "--steps", "12", "--n_critic", "5", "--lr", "1e-4",
                           "--clip_value", "0.02", "--sample_interval", "5", "--batch_size", "32", "--latent_dim", "64",
                           "--n_cpu", "8", "--img_size", "28", "--channels", "1",
                           "--out", str(tmp_path / "r"), "--threads", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Epoch   1/1" in proc.stderr and "batch" in proc.stderr  # the tutorial's per-epoch bar, in batches
    spec = json.loads((tmp_path / "r" / "spec.json").read_text())
    assert (spec["lr"], spec["clip_value"], spec["batch_size"], spec["latent_dim"]) == (1e-4, 0.02, 32, 64)
    # 12 critic steps: generator steps after batches 0, 5 and 10; images after batches 0, 5 and 10 (the
    # tutorial's batches_done % sample_interval == 0), each 5 x 5 samples of 28 x 28 with 2-pixel gaps
    assert sorted(p.name for p in (tmp_path / "r" / "images").iterdir()) == ["0.png", "10.png", "5.png"]
    assert len((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("flags, words", [
    (["--img_size", "32"], "--img_size 32 --channels 1"),
    (["--channels", "3"], "--img_size 28 --channels 1"),
    (["--sample_interval", "0"], "--sample_interval 0"),
])
def test_standalone_refuses_what_the_tutorial_allows_but_mnist_cannot(flags, words, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "impl_pytorch", *flags, "--out", str(tmp_path / "r")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


def test_standalone_explains_n_cpu():
    help_text = subprocess.run([sys.executable, "-m", "impl_tensorflow", "--help"], capture_output=True, text=True).stdout
    assert "--n_cpu" in help_text and "unused" in help_text and "--sample_interval" in help_text


def test_tensorboard_events_carry_the_same_metrics_as_the_jsonl(tmp_path, mnist):
    pytest.importorskip("tensorboard", reason="tensorboard is not installed: pip install -e '.[tensorboard]'")
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    out = tmp_path / "run"
    assert main(["train", "--steps", "20", "--out", str(out), "--threads", "1", "--progress", "none", "--tensorboard"]) == 0
    [events] = list((out / "tensorboard").glob("events.out.tfevents.*"))
    scalars = {}
    for event in EventFileLoader(str(events)).Load():
        for value in event.summary.value:
            if value.HasField("simple_value") or (value.HasField("tensor") and value.tensor.float_val):
                scalars[(value.tag, event.step)] = value.tensor.float_val[0] if value.HasField("tensor") else value.simple_value
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert scalars[("loss/critic_loss", 4)] == pytest.approx(logs[3]["critic_loss"], rel=1e-6)
    assert scalars[("clipping/max_abs_weight", 1)] == pytest.approx(logs[0]["max_abs_weight"], rel=1e-6)
    assert {t for t, _ in scalars} >= {"loss/wasserstein", "loss/generator_loss", "critic/d_real_mean", "clipping/clipped_share"}


def test_tensorboard_shows_what_the_report_shows_sample_grids_weight_histograms_and_hparams(tmp_path, mnist):
    """Read back with TensorBoard's own EventAccumulator: the fixed-z grid (byte-identical to the run's PNG),
    the critic weight histograms, the quality scores and one HPARAMS row naming framework, preset and spec."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed: pip install -e '.[tensorboard]'")
    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.plugins.hparams import metadata as hp_metadata
    out = tmp_path / "run"
    assert main(["train", "--steps", "20", "--sample-every", "2", "--out", str(out), "--threads", "1",
                 "--progress", "none", "--tensorboard", "--preset", "corrected"]) == 0
    acc = ea.EventAccumulator(str(out / "tensorboard"), size_guidance={ea.IMAGES: 0, ea.HISTOGRAMS: 0, ea.SCALARS: 0})
    acc.Reload()
    tags = acc.Tags()
    # Sample grids at every snapshot (iterations 0, 2, 4), the same bytes as samples/*.png.
    images = acc.Images("samples/fixed_z")
    assert [i.step for i in images] == [0, 2, 4]
    assert images[-1].encoded_image_string == (out / "samples" / "iter_000004.png").read_bytes()
    assert (images[-1].height, images[-1].width) == (242, 242)   # 8 x 8 digits of 28 px, 2 px apart
    # Critic weight histograms: all weights, and per tensor; the last one describes params_final.npz.
    params = {k: v for k, v in np.load(out / "params_final.npz").items() if k.startswith("critic.")}
    every = np.concatenate([v.ravel() for v in params.values()])
    last = acc.Histograms("weights/critic")[-1]
    assert last.step == 4 and last.histogram_value.num == every.size
    assert last.histogram_value.min == pytest.approx(every.min()) and last.histogram_value.max == pytest.approx(every.max())
    assert sum(last.histogram_value.bucket) == every.size
    assert {f"weights/{k}" for k in params} <= set(tags["histograms"])
    # Quality scores at the snapshots, equal to snapshots.jsonl's.
    snaps = [json.loads(line) for line in (out / "snapshots.jsonl").read_text().splitlines()]
    fd = {s.step: s.value for s in acc.Scalars("quality/fd")}
    assert fd[4] == pytest.approx(snaps[-1]["quality"]["fd"], rel=1e-6) and sorted(fd) == [0, 2, 4]
    # the costly feature W1 (exact transport, ~1.5 s a snapshot) is left out: nothing reads it from a run
    assert ["w1_features" in s["quality"] for s in snaps] == [False, False, False]
    # HPARAMS: framework, preset, dataset and every spec field.
    content = acc.PluginTagToContent(hp_metadata.PLUGIN_NAME)[hp_metadata.SESSION_START_INFO_TAG]
    hparams = hp_metadata.parse_session_start_info_plugin_data(content).hparams
    spec = json.loads((out / "spec.json").read_text())
    assert hparams["framework"].string_value == "pytorch" and hparams["preset"].string_value == "corrected"
    assert hparams["dataset"].string_value == "mnist"
    assert hparams["lr"].number_value == pytest.approx(spec["lr"]) and hparams["bn_eps"].number_value == spec["bn_eps"]
    assert hparams["critic_hidden"].string_value == "x".join(str(w) for w in spec["critic_hidden"])
    assert set(spec) <= set(hparams)


def test_tensorboard_missing_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    out = tmp_path / "run"
    assert main(["train", "--steps", "10", "--out", str(out), "--tensorboard", "--progress", "none"]) == 2
    assert "pip install -e '.[tensorboard]'" in capsys.readouterr().err and not out.exists()
