"""`wgan-suite bench`: speed of each framework and execution mode, against this machine's matmul roofline.

One generator iteration (G-it) = n_critic critic steps + one generator step. Each (framework, mode)
runs in its own process with pinned threads: the first iteration alone (its time is reported as
compile time), then one call of the framework's own training loop (impl_X/train.py), as `train` makes,
over a warm-up and `repeats` timed stretches of `iterations` G-its. The roofline is the same G-it's
matrix multiplies alone, timed as one compiled TensorFlow function (oneDNN), so the ratio says how close
a framework gets to what this CPU can do, not only how it compares with the others.

The processes take turns (Session, interleave): one process runs at a time, and each round runs one timed
stretch of every mode and one roofline measurement. A shared cloud machine's speed drifts by 20% within
minutes (docs/performance.md); run one mode after another and that drift lands between modes, in their
ratios. Taking turns spreads it over every mode and the roofline alike.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Callable

import numpy as np

from shared.core.params import init_params, layer_sizes
from shared.core.spec import TUTORIAL, WGANSpec
from shared.core.streams import Streams

# The modes themselves are declared by each implementation (impl_X/contract.py: execution_modes() and
# execution_mode(wgan, name)); bench only asks for them by name. --quick runs each framework's first two.
BF16_MODES = {("pytorch", "bf16")}  # not fp32: the roofline ratio is against the fp32 roofline


def matmul_shapes(spec: WGANSpec) -> list[tuple[int, int, int]]:
    """(m, k, n) of every matrix multiply of one G-it, as autograd runs them (weight gradients of the
    critic during the generator step excluded: a framework may skip them)."""
    b = spec.batch_size
    g, d = layer_sizes(spec)
    g_layers, d_layers = list(zip(g[:-1], g[1:])), list(zip(d[:-1], d[1:]))
    forward = lambda layers: [(b, i, o) for i, o in layers]  # noqa: E731
    weight_grads = lambda layers: [(i, b, o) for i, o in layers]  # noqa: E731 - x^T @ dy
    input_grads = lambda layers: [(b, o, i) for i, o in layers]  # noqa: E731 - dy @ W^T
    critic_step = (forward(g_layers) + 2 * forward(d_layers) + 2 * weight_grads(d_layers)
                   + input_grads(d_layers[1:]) * 2)  # G(z) no grad; D on real and fake, backward both
    generator_step = (forward(g_layers) + forward(d_layers) + input_grads(d_layers)
                      + weight_grads(g_layers) + input_grads(g_layers[1:]))
    return critic_step * spec.n_critic + generator_step


def flops_per_iteration(spec: WGANSpec) -> float:
    return float(sum(2 * m * k * n for m, k, n in matmul_shapes(spec)))


def roofline_pools(threads: int, split: str) -> tuple[int, int]:
    """(intra-op, inter-op) threads of a roofline split: 'pairs' as the TensorFlow contract sets them (two
    matmuls side by side, each on threads // 2), 'wide' every matmul on all threads, two side by side."""
    return (max(1, threads // 2), min(threads, 2)) if split == "pairs" else (threads, threads)


def roofline_timer(spec: WGANSpec, threads: int, split: str) -> Callable[[int], float]:
    """measure(repeats) -> G-it/s if a G-it were nothing but its matmuls, run by TensorFlow/oneDNN in one
    tf.function (the median of `repeats` calls), its thread pools split as `split` says; set up and traced
    once here."""
    import tensorflow as tf
    intra, inter = roofline_pools(threads, split)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:
        pass
    rng = np.random.default_rng(0)
    pairs = [(tf.constant(rng.standard_normal((m, k)), tf.float32), tf.constant(rng.standard_normal((k, n)), tf.float32))
             for m, k, n in matmul_shapes(spec)]

    @tf.function
    def all_matmuls():
        return tf.add_n([tf.reduce_sum(tf.matmul(a, b)) for a, b in pairs])

    all_matmuls().numpy()  # trace and warm up

    def measure(repeats: int = 20) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            all_matmuls().numpy()
            times.append(time.perf_counter() - start)
        return 1.0 / float(np.median(times))

    return measure


@dataclass
class BenchResult:
    framework: str
    mode: str
    batch: int
    threads: int
    its_per_s: list[float]       # one per repeat
    first_iteration_s: float     # includes tracing / compilation
    peak_rss_mb: float
    stream_share: float          # share of a run spent drawing the harness's inputs

    @property
    def median(self) -> float:
        return float(np.median(self.its_per_s))


def list_modes(framework: str) -> dict[str, str]:
    """The implementation's execution modes (name -> what runs), default first; one mode for an
    implementation that declares none."""
    from shared.core.protocol import load_implementation
    module = load_implementation(framework)
    if not hasattr(module, "execution_modes"):
        return {"default": "train.py's fit, or the contract's steps in shared/core/loop.py's loop"}
    return module.execution_modes()


def mode_context(module, wgan, mode: str):
    """The implementation's execution_mode(wgan, mode), yielding its fit function; for a module that declares
    no modes, its training loop (train.fit or the harness's fit_by_steps) as the one mode."""
    import contextlib
    from shared.core.protocol import training_loop
    mode_of = getattr(module, "execution_mode", None)
    return mode_of(wgan, mode) if mode_of else contextlib.nullcontext(training_loop(module))


# A real run's training set: fit() loops (Keras) pay a start-up cost per epoch, so the bench's epochs are
# as long as MNIST's (937 batches of 64), not a toy array's.
BENCH_ROWS = 60000


DRAW_ITERATIONS, DRAW_REPEATS = 100, 3  # timing the input drawing (run_mode)
WARM_UP_ITERATIONS = 3   # G-its run_mode trains before its first timed repeat (the first one included)


def run_mode(framework: str, mode: str, spec: WGANSpec, threads: int, iterations: int, repeats: int,
             device: str = "cpu", turn: Callable[[float | None], None] | None = None,
             rows: int = BENCH_ROWS, time_inputs: bool = True) -> BenchResult:
    """Time one (framework, mode) in this process (a bench Session runs it in a fresh process).

    As `train` runs: one call of the loop over the whole run, here warm-up + `repeats` x `iterations`
    G-its, each repeat timed between the iteration hooks (on_iteration) that close it. So a loop's
    per-call start-up (Keras' fit() builds its data pipeline and callbacks) counts once, as in a run,
    not once per repeat. The first iteration, tracing and compilation included, is its own call.
    turn(G-it/s of the repeat just closed, None after the warm-up), if given, is called inside the hook that
    closes the warm-up and each repeat but the last: it returns when this process's next turn comes
    (interleave), and the next repeat's clock starts then. rows: the random training set's size;
    time_inputs=False leaves out timing the input drawing (stream_share NaN): compare's speed probe (eta.py)."""
    from shared.core.protocol import build, load_implementation
    module = load_implementation(framework)
    wgan = build(framework, spec, init_params(spec), device=device, threads=threads, mode=mode)
    data = (np.random.default_rng(0).random((rows, spec.data_dim), dtype=np.float32) * 2 - 1).astype(spec.dtype)
    streams = Streams(data, spec)
    warm_up = WARM_UP_ITERATIONS
    ends = [warm_up - 1 + r * iterations for r in range(repeats + 1)]  # the iterations that close each repeat
    started, closed = {}, {}

    def on_iteration(i: int, log: dict) -> None:
        if i not in ends:
            return
        closed[i] = time.perf_counter()
        k = ends.index(i)  # repeat k closes here (k = 0: the warm-up)
        if turn is not None and i != ends[-1]:
            turn(iterations / (closed[i] - started[ends[k - 1]]) if k else None)
        started[i] = time.perf_counter()

    with mode_context(module, wgan, mode) as fit:
        start = time.perf_counter()
        fit(wgan, streams, range(1), progress="none")
        first = time.perf_counter() - start
        stop = warm_up + iterations * repeats
        fit(wgan, streams, range(1, stop), progress="none", on_iteration=on_iteration)
    rates = [iterations / (closed[b] - started[a]) for a, b in zip(ends, ends[1:])]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not time_inputs:
        return BenchResult(framework, mode, spec.batch_size, threads, rates, first, peak, float("nan"))
    # What drawing the identical inputs costs, against a whole run: the fastest of DRAW_REPEATS passes over
    # DRAW_ITERATIONS G-its (as timeit does: one pass is ~50 ms, and a pass that another process or a
    # framework's lingering threads interrupt measures them, not the drawing).
    schedule = streams.schedule
    passes = []
    for _ in range(DRAW_REPEATS):
        start = time.perf_counter()
        for i in range(stop, stop + DRAW_ITERATIONS):
            if framework == "tensorflow" and streams.is_uniform(i):
                streams.iteration_inputs(i)  # this loop takes a whole iteration's inputs at once
                continue
            for t in schedule.critic_steps(i):
                streams.critic_inputs(t)
            streams.generator_z(schedule.generator_after(i))
        passes.append(time.perf_counter() - start)
    draw_rate = DRAW_ITERATIONS / min(passes)
    return BenchResult(framework, mode, spec.batch_size, threads, rates, first, peak,
                       float(np.median(rates)) / draw_rate)


# ==================================================================================================
# Taking turns: one process runs at a time, one repeat of every mode (and the roofline) per round
# ==================================================================================================
# The roofline's sessions, among the (framework, mode) ones: one per split of the thread pools (one with one
# thread, where they are the same); each round's roofline is the faster of the two (which one is faster
# depends on the CPU: on a 2-core Zen 5, 'pairs' 106-113 against 'wide' 83-97 G-it/s).
ROOFLINE = ("tensorflow", "roofline")
ROOFLINE_WIDE = ("tensorflow", "roofline wide")
ROOFLINE_SPLITS = {ROOFLINE: "pairs", ROOFLINE_WIDE: "wide"}


def roofline_sessions(threads: int) -> list[tuple[str, str]]:
    return [ROOFLINE, ROOFLINE_WIDE] if threads > 1 else [ROOFLINE]


def roofline_rounds(got: dict, batches: list[int]) -> dict[int, float] | None:
    """batch -> the median over rounds of each round's fastest roofline split; None when no split measured."""
    import statistics
    splits = [got[job] for job in ROOFLINE_SPLITS if isinstance(got.get(job), list)]
    if not splits:
        return None
    return {b: statistics.median(max(rates) for rates in zip(*(split[k]["its_per_s"] for split in splits)))
            for k, b in enumerate(batches)}


def roofline_split_record(got: dict, batches: list[int], threads: int) -> dict:
    """split -> its pools and its own median G-it/s per batch (what --json keeps beside the roofline)."""
    import statistics
    out = {}
    for job, split in ROOFLINE_SPLITS.items():
        if isinstance(got.get(job), list):
            intra, inter = roofline_pools(threads, split)
            out[split] = {"intra_op_threads": intra, "inter_op_threads": inter,
                          "its_per_s": {str(b): statistics.median(r["its_per_s"]) for b, r in zip(batches, got[job])}}
    return out


class Session:
    """The coordinator's end of one bench process (framework, mode; or ROOFLINE): its turns and results.

    The process (`python -m shared.suite.worker --bench-session FD`, session_main) talks over a socket pair:
    it reads its request, then waits for "go", works, answers ("turn over", G-it/s of the stretch it ran)
    when it has run its part of the turn and waits again, or ("result", ...) / ("refused", why) /
    ("error", why) when a batch size is done or it cannot go on. Per batch size: one setup turn (build,
    first iteration, warm-up), then one turn per repeat; the last repeat's turn ends with the result."""

    def __init__(self, framework: str, mode: str, request: dict, tmp: str) -> None:
        from shared.suite.parity import worker_env
        self.framework = framework
        self.mode = mode
        self.reason: tuple[str, str] | None = None  # ("refused" or "error", why) once it cannot go on
        parent, child = socket.socketpair()
        self.stderr = open(os.path.join(tmp, f"session-{id(self)}.err"), "w+")
        self.process = subprocess.Popen([sys.executable, "-m", "shared.suite.worker", "--bench-session",
                                         str(child.fileno())], pass_fds=[child.fileno()], env=worker_env(),
                                        stdout=subprocess.DEVNULL, stderr=self.stderr)
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send({"framework": framework, "mode": mode, **request})  # the process's first read

    @property
    def alive(self) -> bool:
        return self.reason is None

    def turn(self) -> tuple[str | None, object]:
        """Run one turn: ("turn over", the G-it/s of the repeat it ran, None after setup), ("result", the
        batch size's results), or (None, None) once the process has refused, failed or died."""
        if not self.alive:
            return None, None
        try:
            self.conn.send("go")
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            from shared.suite.parity import worker_exit_error
            self.process.wait()
            self.stderr.seek(0)
            kind, payload = "error", worker_exit_error(self.process.returncode, self.stderr.read())
        if kind in ("refused", "error"):
            self.reason = (kind, payload)
            return None, None
        return kind, payload

    def fail(self, reason: str) -> None:
        self.reason = ("error", reason)

    def close(self) -> None:
        self.conn.close()  # closing twice is harmless
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stderr.close()


def interleave(jobs: list[tuple[str, str]], batches: list[int], threads: int, iterations: int, repeats: int,
               device: str = "cpu", on_round: Callable[[int, int, dict], None] | None = None) -> dict:
    """Bench every (framework, mode) of `jobs` (roofline_sessions among them, for the roofline), one process each,
    taking turns. Returns {(framework, mode): [one result dict per batch size: BenchResult's fields; the
    roofline's {"its_per_s": [...]}] or ("refused" or "error", why)}. on_round(batch, round, {job: G-it/s of that round}) after each round."""
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="wgan-bench-") as tmp:
        sessions = [Session(fw, mode, {"batches": batches, "threads": threads, "iterations": iterations,
                                       "repeats": repeats, "device": device}, tmp) for fw, mode in jobs]
        try:
            for batch in batches:
                for session in sessions:  # setup turns: one process builds and warms up at a time
                    session.turn()
                for r in range(repeats):
                    rates = {}
                    for session in sessions:
                        job = (session.framework, session.mode)
                        kind, payload = session.turn()
                        if kind == "result":
                            out.setdefault(job, []).append(payload)
                            payload = payload["its_per_s"][-1]
                        elif kind == "turn over" and r == repeats - 1:
                            session.fail("its process ended a batch size without a result")
                        if session.alive:
                            rates[job] = payload
                    if on_round:
                        on_round(batch, r, rates)
        finally:
            for session in sessions:  # every process may leave now, side by side: nothing is timed any more
                session.conn.close()
            for session in sessions:
                session.close()
        for session in sessions:
            if not session.alive:
                job = (session.framework, session.mode)
                out[job] = session.reason
    return out


def session_main(fd: int) -> None:
    """The bench process's end of a Session: reads its request, waits for each turn, runs its part, answers."""
    conn = Connection(fd)
    request = conn.recv()
    framework, mode = request["framework"], request["mode"]

    def turn(rate: float | None) -> None:
        conn.send(("turn over", rate))
        conn.recv()

    from shared.core.errors import UserError
    try:
        for batch in request["batches"]:
            conn.recv()  # the setup turn
            if (framework, mode) in ROOFLINE_SPLITS:
                measure = roofline_timer(bench_spec(batch), request["threads"], ROOFLINE_SPLITS[framework, mode])
                rates: list[float] = []
                for _ in range(request["repeats"]):
                    turn(rates[-1] if rates else None)
                    rates.append(measure(20))
                conn.send(("result", {"its_per_s": rates}))
                continue
            # the same work per repeat at every batch size: fewer iterations for bigger batches
            result = run_mode(framework, mode, bench_spec(batch), request["threads"],
                              max(5, request["iterations"] * 64 // batch), request["repeats"],
                              request.get("device", "cpu"), turn=turn)
            conn.send(("result", result.__dict__))
    except UserError as e:  # the mode refuses this machine (e.g. onednn where it would compute in bf16)
        conn.send(("refused", str(e)))
    except (EOFError, BrokenPipeError):
        return  # the coordinator has gone
    except Exception as e:  # reported as this mode's error; the other modes go on
        conn.send(("error", f"{type(e).__name__}: {e}"))
    # Stay, idle, until the coordinator closes every session at the end: a process that left now would tear
    # its framework down (1-1.5 s) beside the next modes' timed turns (~0.3 s each) — in the last round every
    # mode after the first ran at about half speed, and drawing the inputs looked 3-5x dearer.
    try:
        conn.recv()
    except (EOFError, OSError):
        pass


# One G-it's scores against float64, relative to their scale (precision_probe): fp32 modes measured 1e-7 to
# 2e-5 (AVX2 EPYC; five RMSprop updates amplify rounding), bf16 autocast 1.3 (a matmul rounded to bf16 is
# ~4e-3 off). Scores further off than this were not computed in fp32.
FP32_RELATIVE_ERROR_BOUND = 1e-3
PRECISION_KEYS = ("d_real_mean", "d_fake_mean", "generator_loss")


def precision_probe(framework: str, mode: str, dtype: str = "float32", threads: int = 1) -> dict:
    """One G-it of `mode` from fixed weights and inputs (bench_spec(64), `dtype`): the log's scores, and their
    scales (the largest |score| of each term: a mean of scores can be far smaller than the scores)."""
    from shared.core.protocol import build, load_implementation
    spec = bench_spec(64).replace(dtype=dtype)
    module = load_implementation(framework)
    wgan = build(framework, spec, init_params(spec), threads=threads, mode=mode)
    data = np.random.default_rng(7).uniform(-1, 1, (64 * 8, spec.data_dim)).astype(dtype)
    with mode_context(module, wgan, mode) as fit:
        log = fit(wgan, Streams(data, spec), range(1), progress="none")[0]
    real_scale = max(abs(log["d_real_min"]), abs(log["d_real_max"]))
    fake_scale = max(abs(log["d_fake_min"]), abs(log["d_fake_max"]))
    return {"values": {k: float(log[k]) for k in PRECISION_KEYS},
            "scales": {"d_real_mean": real_scale, "d_fake_mean": fake_scale, "generator_loss": fake_scale}}


def precision_error(probe: dict, reference: dict) -> float:
    """The largest error of a probe's scores against the float64 reference's, relative to each score's scale."""
    return max(abs(probe["values"][k] - reference["values"][k]) / reference["scales"][k] for k in PRECISION_KEYS)


def bench_spec(batch: int) -> WGANSpec:
    """The tutorial's networks and numerics on Algorithm 1's schedule: every G-it is exactly n_critic critic
    steps and one generator step on full batches, so G-it/s means the same in every mode (the tutorial's
    schedule has G-its of 1, 4 or 5 critic steps around epoch ends)."""
    return TUTORIAL.replace(batch_size=batch, generator_step_at="last", counter_restarts_each_epoch=False,
                            drop_last_batch=True)


def format_table(results: list[BenchResult], roofline: dict[int, float] | None) -> str:
    """framework x mode rows; samples/s counts real samples through the critic (G-it/s x n_critic x batch)."""
    # Columns as wide as their longest entry: a user's module path (my_package.my_wgan) is longer than "pytorch".
    fw_width = max([len("framework")] + [len(r.framework) for r in results]) + 2
    mode_width = max([len("mode")] + [len(r.mode) for r in results]) + 2
    lines = [f"{'framework':<{fw_width}}{'mode':<{mode_width}}{'batch':>6}{'G-it/s median':>15}{'min':>8}{'max':>8}"
             f"{'samples/s':>11}{'first it (s)':>14}{'peak MB':>9}{'inputs':>8}{'roofline':>10}"]
    for r in results:
        ratio = f"{r.median / roofline[r.batch]:.2f}" if roofline and r.batch in roofline else "—"
        lines.append(f"{r.framework:<{fw_width}}{r.mode:<{mode_width}}{r.batch:>6}{r.median:>15.1f}{min(r.its_per_s):>8.1f}"
                     f"{max(r.its_per_s):>8.1f}{r.median * r.batch * TUTORIAL.n_critic:>11.0f}{r.first_iteration_s:>14.2f}"
                     f"{r.peak_rss_mb:>9.0f}{r.stream_share:>8.1%}{ratio:>10}")
    return "\n".join(lines)


# Issue #15's goals, judged in every bench run (batch 64): each implementation's default mode against the roofline
# (0.6 of it on one thread, 0.5 on two; no goal was set for more), Keras on torch against PyTorch eager, and Keras'
# fit() against the contract's steps (within 5%).
ROOFLINE_GOALS = {1: 0.6, 2: 0.5}
KERAS_TORCH_GOAL = 0.8
FIT_GOAL = 0.95


def goal_checks(results: list[BenchResult], roofline: dict[int, float] | None, defaults: dict[str, str],
                threads: int) -> list[dict]:
    """[{"check", "value", "goal", "met"}] for the goals this run's figures can judge; defaults: framework ->
    its default mode (the first it declares)."""
    median = {(r.framework, r.mode): r.median for r in results if r.batch == 64}
    checks = []
    goal = ROOFLINE_GOALS.get(threads)
    for framework, mode in defaults.items():
        if goal and roofline and 64 in roofline and (framework, mode) in median:
            checks.append((f"{framework} {mode} / roofline", median[framework, mode] / roofline[64], goal))
    pytorch, keras_torch = (median.get((fw, defaults.get(fw))) for fw in ("pytorch", "keras:torch"))
    if pytorch and keras_torch:
        checks.append((f"keras:torch {defaults['keras:torch']} / pytorch {defaults['pytorch']}", keras_torch / pytorch,
                       KERAS_TORCH_GOAL))
    for framework in ("keras", "keras:torch", "keras:jax"):
        fit, steps = median.get((framework, "fit")), median.get((framework, "steps"))
        if fit and steps:
            checks.append((f"{framework} fit / {framework} steps", fit / steps, FIT_GOAL))
    return [{"check": check, "value": value, "goal": goal, "met": bool(value >= goal)} for check, value, goal in checks]


def format_goals(checks: list[dict], threads: int) -> str:
    """The goal checks as a few aligned lines under a heading that counts the met ones; "" when there are none."""
    if not checks:
        return ""
    width = max(len(c["check"]) for c in checks) + 2
    lines = [f"goals (issue #15, batch 64, {threads} thread(s)): {sum(c['met'] for c in checks)} of {len(checks)} met"]
    lines += [f"  {c['check']:<{width}}{shown_against(c['value'], c['goal']):>6}  >= {c['goal']:.2f}  "
              f"{'met' if c['met'] else 'NOT MET'}" for c in checks]
    return "\n".join(lines)


def shown_against(value: float, goal: float) -> str:
    """value with two decimals, or with as many more (up to four) as it takes for the figure shown to fall on the
    goal's side that the value itself falls on: 0.4990 against a goal of 0.50 reads 0.499, not 0.50 ... NOT MET
    (and 0.49996, which rounds to 0.5000, reads 0.4999: cut, not rounded)."""
    for digits in (2, 3, 4):
        text = f"{value:.{digits}f}"
        if (float(text) >= goal) == (value >= goal):
            return text
    return f"{math.floor(value * 1e4) / 1e4:.4f}"


def bench_record(results: list[BenchResult], roofline: dict | None, frameworks: list[str], threads: int,
                 device: str, errors: list[str], refused: list[str] = (), roofline_splits: dict | None = None,
                 goals: list[dict] | None = None) -> dict:
    """What `bench --json` writes: the figures, and everything needed to compare them with another run's
    (absolute speeds differ 4x between this project's CPU kinds: the roofline ratio is what travels)."""
    from shared.core.machine import cpu_flags, cpu_isa, cpu_model
    from shared.suite.train import code_version, library_versions
    flags = cpu_flags()
    return {
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpu_model": cpu_model(), "isa": cpu_isa(), "cores": os.cpu_count(),
                    "isa_flags": sorted(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni",
                                                    "amx_bf16", "amx_tile") if f in flags),
                    "platform": platform.platform(), "device": device},
        "threads": threads,
        "versions": {fw: library_versions(fw) for fw in frameworks},
        "code": code_version(),   # the commit measured (None outside a git checkout)
        "roofline_its_per_s": {str(b): v for b, v in (roofline or {}).items()},
        # each split's pools and own median (the roofline above takes the faster split round by round)
        "roofline_splits": roofline_splits or {},
        "results": [{**r.__dict__, "median": r.median,
                     "roofline_ratio": (r.median / roofline[r.batch]) if roofline and r.batch in roofline else None,
                     "bf16": (r.framework, r.mode) in BF16_MODES}
                    for r in results],
        "errors": errors,
        "refused": list(refused),  # modes that measured this machine and declined (e.g. onednn computing in bf16)
        "goals": goals or [],      # goal_checks: issue #15's goals as this run judges them
    }
