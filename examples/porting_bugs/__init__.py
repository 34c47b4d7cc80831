"""A catalogue of realistic porting bugs: each module is examples/torch_wgan.py with one slip planted.

Every bug here is one a careful person makes when porting a WGAN between frameworks (the names say which
framework's habit leaks in). Each module is a complete implementation under the harness's contract, so the
suite checks it like any other:

    wgan-suite parity --quick --frameworks examples.porting_bugs.rms_eps_inside
    wgan-suite compare --frameworks pytorch examples.porting_bugs.rms_eps_inside

docs/agreement.md publishes, for every bug, which parity checks fail and how often compare's verdict flags it
(`wgan-suite calibrate --check examples.porting_bugs.…` measures that).

Two kinds of bug: a value hard-coded from another framework's defaults instead of read from the spec
(`ported_with`, below), and a slip in the code itself (a subclass overriding one method).
"""

from __future__ import annotations

from examples import torch_wgan

# module name -> what the slip is (the table in docs/agreement.md follows this order)
CATALOGUE: dict[str, str] = {
    "clip_weights_only": "clips the critic's weight matrices but not its biases",
    "clip_before_step": "clips the critic before the optimizer step instead of after it",
    "loss_sign_one_term": "critic loss E[D(fake)] + E[D(real)]: one term's sign flipped",
    "sigmoid_on_critic": "a sigmoid left on the critic's output (the GAN's discriminator)",
    "own_noise": "the generator step draws its own z instead of using the one it is given",
    "glorot_init": "ignores the initial weights it is given and draws Glorot-uniform ones (Keras' default)",
    "leaky_slope_torch_default": "LeakyReLU slope 0.01 (nn.LeakyReLU's default) instead of 0.2",
    "leaky_slope_keras_default": "LeakyReLU slope 0.3 (keras.layers.LeakyReLU's default) instead of 0.2",
    "rms_eps_inside": "RMSprop eps inside the square root (Keras) instead of outside (torch)",
    "rms_decay_keras": "RMSprop decay 0.9 (Keras' rho) instead of 0.99 (torch's alpha)",
    "bn_momentum_keras": "BatchNorm momentum 0.9 read as torch's momentum (Keras' 0.9 means torch's 0.1)",
    "bn_eps_default": "BatchNorm eps 1e-5 (the library default) instead of the tutorial's 0.8",
}


def ported_with(module: str, **values):
    """build_wgan for a port that hard-codes `values` (another framework's defaults) instead of reading the spec.
    The object still reports the spec it was given; only what it computes differs."""
    def build_wgan(spec, params=None, device="cpu"):
        wgan = torch_wgan.WGAN(spec.replace(**values), params=params, device=device)
        wgan.spec, wgan.framework = spec, module  # the optimizers and layers keep the hard-coded values
        return wgan
    return build_wgan


set_threads = torch_wgan.set_threads
