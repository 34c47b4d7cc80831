import numpy as np

from shared.params import init_optimizer_state, init_params, param_shapes, trainable_names
from shared.spec import CORRECTED, TUTORIAL
from shared.streams import Streams, is_generator_step


def test_identical_seeds_give_byte_identical_streams(random_images):
    a, b = Streams(random_images, TUTORIAL), Streams(random_images, TUTORIAL)
    for t in (0, 7, 3, 100):  # any order: each draw is keyed by step, not by call count
        assert a.real_batch(t).tobytes() == b.real_batch(t).tobytes()
        assert a.critic_z(t).tobytes() == b.critic_z(t).tobytes()
    c = Streams(random_images, TUTORIAL.replace(seed=1))
    assert not np.array_equal(a.critic_z(0), c.critic_z(0))
    assert not np.array_equal(a.real_batch(0), c.real_batch(0))


def test_epochs_reshuffle_and_cover_the_data(random_images):
    s = Streams(random_images, TUTORIAL)
    epoch0 = np.concatenate([s.real_batch(t) for t in range(s.steps_per_epoch)])
    assert len(np.unique(epoch0, axis=0)) == s.steps_per_epoch * 64  # no sample twice in an epoch
    assert not np.array_equal(s.real_batch(0), s.real_batch(s.steps_per_epoch))  # epoch 1 reshuffled


def test_generator_z_reused_or_fresh_per_spec(random_images):
    reuse, fresh = Streams(random_images, TUTORIAL), Streams(random_images, CORRECTED)
    assert np.array_equal(reuse.generator_z(4), reuse.critic_z(4))
    assert not np.array_equal(fresh.generator_z(4), fresh.critic_z(4))


def test_schedule_is_global_not_reset_per_epoch():
    steps = [t for t in range(23) if is_generator_step(t, 5)]
    assert steps == [4, 9, 14, 19]
    # 937 steps per MNIST epoch is not a multiple of 5: the schedule runs across the boundary.
    assert is_generator_step(939, 5) and not is_generator_step(937, 5)


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
