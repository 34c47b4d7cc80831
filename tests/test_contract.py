"""What every implementation's training loop promises, checked the same way for each framework: its
train.fit() runs exactly the contract's critic and generator steps in the spec's schedule — across epoch
ends, on an epoch's partial last batch, from and to the middle of an epoch — and logs one line per
generator iteration."""

import importlib

import numpy as np
import pytest

from shared.loop import LOG_KEYS, iteration_log
from shared.params import init_params
from shared.protocol import build, installed_frameworks
from shared.spec import get_preset
from shared.streams import Streams
from helpers import max_diff

FRAMEWORKS = installed_frameworks(("pytorch", "tensorflow", "keras"))
N_TRAIN = 5 * 64 + 32  # epochs of 5 full batches and one of 32, as MNIST ends


@pytest.mark.parametrize("preset", ["tutorial", "corrected"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fit_is_the_contract_steps_in_the_schedule(framework, preset, random_images):
    spec = get_preset(preset).replace(dtype="float64")
    streams = Streams(random_images[:N_TRAIN].astype(np.float64), spec)
    schedule = streams.schedule
    by_fit, by_hand = (build(framework, spec, init_params(spec), threads=1) for _ in range(2))
    fit = importlib.import_module(f"impl_{framework}.train").fit
    iterations = range(1, 6)  # starts and stops mid-epoch, crosses at least one epoch end
    logs = fit(by_fit, streams, iterations, progress="none")
    want = []
    for i in iterations:
        block = [by_hand.critic_step(*streams.critic_inputs(t)) for t in schedule.critic_steps(i)]
        generator = by_hand.generator_step(streams.generator_z(schedule.generator_after(i)))
        want.append(iteration_log(i, streams, block, generator, 0.0))
    diff, name = max_diff(by_fit.get_params(), by_hand.get_params())
    assert diff <= 1e-12, f"{framework} fit() vs the contract's steps: {name} differs by {diff:.3g}"
    assert [log["iteration"] for log in logs] == list(iterations)
    for got, expected in zip(logs, want):
        assert tuple(got) == LOG_KEYS
        for key in LOG_KEYS[:-1]:  # all but seconds
            assert got[key] == pytest.approx(expected[key], rel=1e-10, abs=1e-14), (got["iteration"], key)
    epochs = {log["epoch"] for log in logs}
    assert len(epochs) >= 2, "the run must cross an epoch end"
    if preset == "tutorial":  # the partial batch was trained on
        trained = [t for i in iterations for t in schedule.critic_steps(i)]
        assert any(schedule.batch_rows(t) == 32 for t in trained)
