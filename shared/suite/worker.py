"""Runs parity tasks for ONE framework in its own process: `python -m shared.suite.worker REQUEST RESULT`.

Each framework gets a fresh process so Keras can run on any backend (one per process), threads are
pinned per framework, and a crash in one framework cannot take the others down. The request and
result are pickles of plain dicts of NumPy arrays and floats (local files written by the harness).
"""

from __future__ import annotations

import os
import pickle
import sys
import time

import numpy as np

from shared.core.params import param_shapes
from shared.core.protocol import build, load_implementation
from shared.core.spec import WGANSpec
from shared.core.errors import UserError
from shared.core.streams import Streams


def to_tensor(framework: str, array: np.ndarray):
    """A framework tensor for the module-level loss functions (golden test)."""
    if framework == "pytorch":
        import torch
        return torch.as_tensor(array)
    if framework == "tensorflow":
        import tensorflow as tf
        return tf.constant(array)
    import keras
    return keras.ops.convert_to_tensor(array)


def task_golden(framework: str, request: dict) -> dict:
    """Each variant's losses on fixed scores, and the gradient penalty of linear critics x @ w + b."""
    module = load_implementation(framework)
    d_real = to_tensor(framework, np.asarray(request["d_real"], dtype=np.float64))
    d_fake = to_tensor(framework, np.asarray(request["d_fake"], dtype=np.float64))
    out = {f"{variant}/{key}": float(fn(variant))
           for variant in ("wgan", "gan")
           for key, fn in (("critic_loss", lambda v: module.wgan.critic_loss(d_real, d_fake, v)),
                           ("generator_loss", lambda v: module.wgan.generator_loss(d_fake, v)))}
    real, fake, mix = (to_tensor(framework, np.asarray(request[k], dtype=np.float64)) for k in ("real", "fake", "mix"))
    for name, (w, b) in request["linear_critics"].items():
        w_t, b_t = to_tensor(framework, np.asarray(w, np.float64)), to_tensor(framework, np.asarray(b, np.float64))
        critic = lambda x, w_t=w_t, b_t=b_t: x @ w_t + b_t  # noqa: E731 - a linear critic [N, d] -> [N, 1]
        out[f"penalty/{name}"] = float(module.wgan.gradient_penalty(critic, real, fake, mix, request["gp_weight"]))
    return out


def task_forward(framework: str, request: dict) -> dict:
    """Outputs from transplanted weights: generator in eval and train mode, critic scores, BN stats after."""
    spec: WGANSpec = request["spec"]
    out = {}
    wgan = build(framework, spec, request["params"], threads=request.get("threads"))
    out["generator_eval"] = wgan.generate(request["z"], training=False)
    out["critic"] = wgan.critic_scores(request["x"])
    out["params_roundtrip"] = wgan.get_params()
    out["generator_train"] = wgan.generate(request["z"], training=True)
    out["params_after_train_forward"] = wgan.get_params()
    return out


def fingerprint(params: dict[str, np.ndarray]) -> np.ndarray:
    """[n_params] sum of |p| per canonical parameter: cheap to keep per iteration, locates where runs part."""
    return np.array([np.abs(params[name]).sum(dtype=np.float64) for name in sorted(params)])


def task_lockstep(framework: str, request: dict) -> dict:
    """A free run from shared weights on identical inputs, recording every loss and a per-iteration fingerprint."""
    spec: WGANSpec = request["spec"]
    wgan = build(framework, spec, request["params"], threads=request.get("threads"))
    streams = Streams(request["train_x"], spec)
    steps = streams.schedule.generator_after(request["iterations"] - 1) + 1  # through the last generator step
    critic_losses, generator_losses, fingerprints, snapshots = [], [], [], {}
    start = time.perf_counter()
    for t in range(steps):
        critic_losses.append(wgan.critic_step(*streams.critic_inputs(t))["critic_loss"])
        if streams.schedule.generator_follows(t):
            generator_losses.append(wgan.generator_step(streams.generator_z(t))["generator_loss"])
            params = wgan.get_params()
            fingerprints.append(fingerprint(params))
            iteration = len(generator_losses)
            if iteration in request.get("snapshot_at", ()):
                snapshots[iteration] = (params, wgan.get_optimizer_state())
    return {"critic_loss": np.array(critic_losses), "generator_loss": np.array(generator_losses),
            "fingerprints": np.array(fingerprints), "names": sorted(param_shapes(spec)),
            "params": wgan.get_params(), "optimizer": wgan.get_optimizer_state(), "snapshots": snapshots,
            "seconds": time.perf_counter() - start}


def task_teacher(framework: str, request: dict) -> dict:
    """From each shared state: one critic step and one generator step; losses and updated parameters."""
    spec: WGANSpec = request["spec"]
    results = []
    for state in request["states"]:
        wgan = build(framework, spec, state["params"], threads=request.get("threads"))
        wgan.set_optimizer_state(state["optimizer"])
        critic = wgan.critic_step(state["real"], state["z"], state["mix"])
        generator = wgan.generator_step(state["z_gen"])
        # The losses' scales: float32 rounds every score a mean sums, not the mean. The WGAN critic loss
        # -E[D(real)] + E[D(fake)] nearly cancels and E[D(G(z))] can be far smaller than its scores, so an
        # error is only meaningful against the largest |score| of each term (and the penalty's size).
        real_scale = max(abs(critic["d_real_min"]), abs(critic["d_real_max"]))
        fake_scale = max(abs(critic["d_fake_min"]), abs(critic["d_fake_max"]))
        critic_scale = max(abs(critic["critic_loss"]), real_scale + fake_scale + abs(critic["gradient_penalty"]))
        results.append({"critic_loss": critic["critic_loss"], "generator_loss": generator["generator_loss"],
                        "critic_scale": critic_scale,
                        "generator_scale": max(abs(generator["generator_loss"]), fake_scale),
                        "params": wgan.get_params()})
    return {"states": results}


def task_defaults(framework: str, request: dict) -> dict:
    from shared.suite.defaults import READERS
    return READERS[framework.split(":")[0]]()


def task_bench(framework: str, request: dict) -> dict:
    from shared.suite.bench import list_modes
    if request.get("list_modes"):
        return {"modes": list_modes(framework)}
    if request.get("precision"):  # one probe per mode (default: every mode): {mode: probe or {"error": ...}}
        from shared.suite.bench import precision_probe
        out = {}
        for mode in request.get("modes") or list_modes(framework):
            try:
                out[mode] = precision_probe(framework, mode, request.get("dtype", "float32"))
            except UserError as e:  # a mode this machine refuses (e.g. onednn where it would compute in bf16)
                out[mode] = {"error": str(e)}
        return out
    raise ValueError("bench's timed runs are Sessions (shared/suite/bench.py), not worker tasks")


TASKS = {"defaults": task_defaults, "bench": task_bench, "golden": task_golden, "forward": task_forward, "lockstep": task_lockstep, "teacher": task_teacher}


def run(framework: str, requests: dict[str, dict]) -> dict:
    results = {}
    for name, request in requests.items():
        try:
            results[name] = TASKS[request["task"]](framework, request)
        except Exception as exc:  # reported per check, the other checks still run
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return results


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if sys.argv[1] == "--bench-session":  # one process of `bench`'s turn-taking (shared/suite/bench.py: Session)
        from shared.suite.bench import session_main
        session_main(int(sys.argv[2]))
        return 0
    request_path, result_path = sys.argv[1:3]
    with open(request_path, "rb") as f:
        request = pickle.load(f)
    results = run(request["framework"], request["tasks"])
    tmp = result_path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(results, f)
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
