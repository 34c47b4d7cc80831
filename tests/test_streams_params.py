import numpy as np

from shared.core.params import init_optimizer_state, init_params, param_shapes, trainable_names
from shared.core.spec import CORRECTED, TUTORIAL
import pytest

from shared.core.errors import UserError
from shared.core.streams import Schedule, Streams


def test_identical_seeds_give_byte_identical_streams(random_images):
    a, b = Streams(random_images, TUTORIAL), Streams(random_images, TUTORIAL)
    for t in (0, 7, 3, 100):  # any order: each draw is keyed by step, not by call count
        assert a.real_batch(t).tobytes() == b.real_batch(t).tobytes()
        assert a.critic_z(t).tobytes() == b.critic_z(t).tobytes()
    c = Streams(random_images, TUTORIAL.replace(seed=1))
    assert not np.array_equal(a.critic_z(0), c.critic_z(0))
    assert not np.array_equal(a.real_batch(0), c.real_batch(0))


def test_a_whole_iterations_inputs_are_its_steps_inputs_stacked(random_images):
    """iteration_inputs gathers a G-it's real batches at once (TensorFlow's one-graph loop): the same bytes as
    the step-by-step draws, across an epoch boundary too (512 images: 8 batches an epoch)."""
    s = Streams(random_images, CORRECTED)   # Algorithm 1: every G-it is n_critic full batches
    for i in (0, 1, 3):
        got, steps = s.iteration_inputs(i), list(s.schedule.critic_steps(i))
        if i == 1:
            assert (s.epoch_of(steps[0]), s.epoch_of(steps[-1])) == (0, 1)   # G-it 1 spans two epochs
        for key, draw in (("real", s.real_batch), ("z", s.critic_z), ("mix", s.mix)):
            assert got[key].tobytes() == np.stack([draw(t) for t in steps]).tobytes(), (i, key)
        assert got["z_gen"].tobytes() == s.generator_z(steps[-1]).tobytes()


def test_epochs_reshuffle_and_cover_the_data(random_images):
    s = Streams(random_images, TUTORIAL)
    epoch0 = np.concatenate([s.real_batch(t) for t in range(s.steps_per_epoch)])
    assert len(np.unique(epoch0, axis=0)) == s.steps_per_epoch * 64  # no sample twice in an epoch
    assert not np.array_equal(s.real_batch(0), s.real_batch(s.steps_per_epoch))  # epoch 1 reshuffled


def test_generator_z_reused_or_fresh_per_spec(random_images):
    reuse, fresh = Streams(random_images, TUTORIAL), Streams(random_images, CORRECTED)
    assert np.array_equal(reuse.generator_z(4), reuse.critic_z(4))
    # a generator step's z right after its critic step's (as every loop asks), and out of order: the same bytes,
    # the first from the kept copy (no second draw), never an array a caller got before
    t = next(step for step in range(1, 20) if reuse.schedule.generator_follows(step))
    draws = []
    real_normal = reuse._normal
    reuse._normal = lambda *args: draws.append(args) or real_normal(*args)
    z = reuse.critic_z(t)
    z_again = reuse.generator_z(t)
    assert z_again.tobytes() == z.tobytes() and z_again is not z and len(draws) == 1
    reuse.critic_z(t)[:] = 0   # a caller writing to its z does not change the generator's ...
    assert reuse.generator_z(t).tobytes() == z.tobytes()
    reuse.generator_z(t)[:] = 0   # ... nor one writing to a generator's z the next one
    assert reuse.generator_z(t).tobytes() == z.tobytes()
    reuse.critic_z(t + 1)   # no generator step after it: t's copy stays, and t + 1's z is drawn afresh when asked
    assert reuse.generator_z(t).tobytes() == z.tobytes()
    assert reuse.generator_z(t + 1).tobytes() == reuse.critic_z(t + 1).tobytes()
    assert not np.array_equal(fresh.generator_z(4), fresh.critic_z(4))


MNIST = 60000  # 937 full batches of 64 and one of 32


def test_the_tutorial_schedule_is_its_loop():
    """`for i, imgs in enumerate(dataloader): critic step; if i % 5 == 0: generator step`, i restarting each epoch."""
    schedule = Schedule(TUTORIAL, MNIST)
    assert schedule.steps_per_epoch == 938 and schedule.batch_rows(937) == 32 and schedule.batch_rows(938) == 64
    literal = [epoch * 938 + i for epoch in range(3) for i in range(938) if i % 5 == 0]  # the tutorial's own test
    assert [schedule.generator_after(j) for j in range(len(literal))] == literal
    assert all(schedule.generator_follows(t) == (t in set(literal)) for t in range(3 * 938))
    assert schedule.generators_per_epoch() == 188
    # G-its: the first has one critic step, then five; at each epoch end the leftovers 936, 937 join batch 0
    assert list(schedule.critic_steps(0)) == [0] and list(schedule.critic_steps(1)) == [1, 2, 3, 4, 5]
    assert list(schedule.critic_steps(188)) == [936, 937, 938]
    assert schedule.iterations_within(938) == 188 and schedule.iterations_within(939) == 189
    assert schedule.iterations_within(1) == 1 and schedule.iterations_within(0) == 0


def test_the_corrected_schedule_is_algorithm_1():
    """n_critic critic steps, then one generator step, on a global count; full batches only."""
    schedule = Schedule(CORRECTED, MNIST)
    assert schedule.steps_per_epoch == 937 and schedule.batch_rows(936) == 64
    assert [schedule.generator_after(j) for j in range(4)] == [4, 9, 14, 19]
    assert list(schedule.critic_steps(187)) == [935, 936, 937, 938, 939]  # across the epoch end
    assert schedule.generator_follows(939) and not schedule.generator_follows(937)
    assert all(len(schedule.critic_steps(j)) == 5 for j in range(500))
    assert schedule.iterations_within(1000) == 200 and schedule.iterations_within(999) == 199


@pytest.mark.parametrize("at, restarts, drop", [(a, r, d) for a in ("first", "last") for r in (True, False)
                                               for d in (True, False)])
def test_every_schedule_runs_each_critic_step_once_and_ends_blocks_at_generator_steps(at, restarts, drop):
    spec = TUTORIAL.replace(generator_step_at=at, counter_restarts_each_epoch=restarts, drop_last_batch=drop)
    schedule = Schedule(spec, 700)  # 10 full batches and one of 60
    steps = [t for j in range(60) for t in schedule.critic_steps(j)]
    assert steps == list(range(len(steps)))
    assert all(schedule.generator_follows(schedule.generator_after(j)) for j in range(60))
    assert sum(schedule.generator_follows(t) for t in range(len(steps))) == 60
    assert schedule.iterations_within(len(steps)) == 60 and schedule.iterations_within(len(steps) - 1) == 59
    assert schedule.steps_per_epoch == (10 if drop else 11)


def test_partial_batches_reach_every_input_with_matching_rows(random_images):
    data = random_images[:500]  # 7 batches of 64 and one of 52
    s = Streams(data, TUTORIAL)
    real, z, mix = s.critic_inputs(7)
    assert real.shape == (52, 784) and z.shape == (52, 100) and mix.shape == (52, 1)
    assert s.generator_z(7).shape == (52, 100) and s.real_batch(8).shape == (64, 784)
    epoch0 = np.concatenate([s.real_batch(t) for t in range(8)])
    assert len(np.unique(epoch0, axis=0)) == 500  # the partial batch holds exactly the rest of the epoch
    assert not s.is_uniform(s.schedule.iterations_within(8)) and s.is_uniform(1)
    assert Streams(data, CORRECTED).critic_inputs(6)[0].shape == (64, 784) and Streams(data, CORRECTED).steps_per_epoch == 7


@pytest.mark.parametrize("n_train, changes, words", [
    (65, {}, "1 sample"),                                   # a last batch of one sample breaks BatchNorm
    (63, {}, "fewer than one batch"),
    (128, dict(generator_step_at="last", drop_last_batch=True, n_critic=3), "too few"),  # 2 batches, no 3rd
])
def test_impossible_schedules_are_one_line_errors(n_train, changes, words):
    with pytest.raises(UserError, match=words):
        Schedule(TUTORIAL.replace(**changes), n_train)


def test_canonical_layout_and_initialisers():
    shapes = param_shapes(TUTORIAL)
    assert shapes["generator.dense0.kernel"] == (100, 128) and shapes["generator.dense4.kernel"] == (1024, 784)
    assert "generator.bn0.gamma" not in shapes and shapes["generator.bn3.moving_var"] == (1024,)
    assert shapes["critic.dense2.kernel"] == (256, 1)
    p = init_params(TUTORIAL)
    assert np.abs(p["critic.dense0.kernel"]).max() <= 1 / np.sqrt(784) and np.abs(p["critic.dense0.bias"]).max() > 0
    g = init_params(TUTORIAL.replace(init="glorot_uniform"))
    assert np.abs(g["critic.dense0.kernel"]).max() <= np.sqrt(6 / (784 + 512)) and not g["critic.dense0.bias"].any()
    assert np.abs(g["critic.dense0.kernel"]).max() > 1 / np.sqrt(784)  # a different distribution, visibly
    assert all(v.dtype == np.float32 for v in p.values())
    assert init_params(TUTORIAL.replace(dtype="float64"))["critic.dense0.kernel"].dtype == np.float64
    assert np.array_equal(init_params(TUTORIAL)["critic.dense0.kernel"], p["critic.dense0.kernel"])
    state = init_optimizer_state(TUTORIAL)
    assert set(state) == set(trainable_names(TUTORIAL, "generator") + trainable_names(TUTORIAL, "critic"))
