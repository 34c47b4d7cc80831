"""The `tutorial` preset is the tutorial's script, step for step.

The oracle below is the tutorial's own code (PyTorch-GAN's implementations/wgan/wgan.py, which the
tutorial prints): its nn.Sequential blocks with `nn.BatchNorm1d(out_feat, 0.8)`, its two RMSprop
optimizers, its loop with `if i % opt.n_critic == 0`. Only three things are swapped, so both sides see
the same numbers: the DataLoader yields the harness's batches (same shuffle, same last batch of fewer
images), np.random.normal yields the harness's z, and both networks start from the harness's weights.
Everything runs in float64, so any difference in what is computed, or in what order, shows: a schedule
change parts the losses by 1e-6 at once, while impl_pytorch's fused RMSprop, which rounds its last bits
differently from the script's torch.optim.RMSprop, stays within 1.4e-13 after three epochs (tolerance 1e-10).
"""

import numpy as np
import pytest
import torch
from torch import nn

from impl_pytorch.train import fit
from impl_pytorch import build_wgan
from shared.core.params import init_params
from shared.core.spec import TUTORIAL
from shared.core.streams import Streams

# 20 full batches and one of 20: in every epoch the generator steps after batches 0, 5, 10, 15 and 20,
# the last one on the partial batch; three epochs cross two epoch ends.
N_TRAIN, N_EPOCHS = 20 * 64 + 20, 3


class Opt:
    """The tutorial's argparse defaults."""
    n_epochs, batch_size, lr, latent_dim, img_size, channels, n_critic, clip_value = N_EPOCHS, 64, 0.00005, 100, 28, 1, 5, 0.01


opt = Opt()
img_shape = (opt.channels, opt.img_size, opt.img_size)


class Generator(nn.Module):
    def __init__(self):
        super(Generator, self).__init__()

        def block(in_feat, out_feat, normalize=True):
            layers = [nn.Linear(in_feat, out_feat)]
            if normalize:
                layers.append(nn.BatchNorm1d(out_feat, 0.8))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            return layers

        self.model = nn.Sequential(
            *block(opt.latent_dim, 128, normalize=False),
            *block(128, 256),
            *block(256, 512),
            *block(512, 1024),
            nn.Linear(1024, int(np.prod(img_shape))),
            nn.Tanh()
        )

    def forward(self, z):
        img = self.model(z)
        img = img.view(img.shape[0], *img_shape)
        return img


class Discriminator(nn.Module):
    def __init__(self):
        super(Discriminator, self).__init__()

        self.model = nn.Sequential(
            nn.Linear(int(np.prod(img_shape)), 512),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, img):
        img_flat = img.view(img.shape[0], -1)
        validity = self.model(img_flat)
        return validity


def load_harness_weights(generator, discriminator, params):
    """Canonical [in, out] kernels into nn.Linear's [out, in] weights, BatchNorm's four arrays."""
    with torch.no_grad():
        for name, module in (("generator", generator), ("critic", discriminator)):
            linears = [m for m in module.model if isinstance(m, nn.Linear)]
            norms = [m for m in module.model if isinstance(m, nn.BatchNorm1d)]
            for k, linear in enumerate(linears):
                linear.weight.copy_(torch.from_numpy(params[f"{name}.dense{k}.kernel"]).T)
                linear.bias.copy_(torch.from_numpy(params[f"{name}.dense{k}.bias"]))
            for k, bn in zip((1, 2, 3), norms):
                bn.weight.copy_(torch.from_numpy(params[f"generator.bn{k}.gamma"]))
                bn.bias.copy_(torch.from_numpy(params[f"generator.bn{k}.beta"]))
                bn.running_mean.copy_(torch.from_numpy(params[f"generator.bn{k}.moving_mean"]))
                bn.running_var.copy_(torch.from_numpy(params[f"generator.bn{k}.moving_var"]))


def tutorial_script(streams, params):
    """The tutorial's training loop; returns its losses per generator step and its final networks."""
    Tensor = torch.DoubleTensor
    generator, discriminator = Generator().double(), Discriminator().double()
    load_harness_weights(generator, discriminator, params)

    def dataloader(epoch):  # DataLoader(shuffle=True, batch_size=64), with the harness's shuffle
        first = epoch * streams.steps_per_epoch
        return [(torch.from_numpy(streams.real_batch(first + i)).view(-1, *img_shape), None)
                for i in range(streams.steps_per_epoch)]

    def normal(epoch, i, shape):  # np.random.normal(0, 1, shape), the harness's draw for this step
        z = streams.critic_z(epoch * streams.steps_per_epoch + i)
        assert z.shape == shape
        return z

    # Optimizers
    optimizer_G = torch.optim.RMSprop(generator.parameters(), lr=opt.lr)
    optimizer_D = torch.optim.RMSprop(discriminator.parameters(), lr=opt.lr)

    losses = []
    for epoch in range(opt.n_epochs):
        for i, (imgs, _) in enumerate(dataloader(epoch)):

            # Configure input
            real_imgs = imgs.type(Tensor)

            #  Train Discriminator
            optimizer_D.zero_grad()

            # Sample noise as generator input
            z = Tensor(normal(epoch, i, (imgs.shape[0], opt.latent_dim)))

            # Generate a batch of images
            fake_imgs = generator(z).detach()
            # Adversarial loss
            loss_D = -torch.mean(discriminator(real_imgs)) + torch.mean(discriminator(fake_imgs))

            loss_D.backward()
            optimizer_D.step()

            # Clip weights of discriminator
            for p in discriminator.parameters():
                p.data.clamp_(-opt.clip_value, opt.clip_value)

            # Train the generator every n_critic iterations
            if i % opt.n_critic == 0:

                #  Train Generator
                optimizer_G.zero_grad()

                # Generate a batch of images
                gen_imgs = generator(z)
                # Adversarial loss
                loss_G = -torch.mean(discriminator(gen_imgs))

                loss_G.backward()
                optimizer_G.step()

                losses.append((loss_D.item(), loss_G.item()))
    return losses, generator, discriminator


@pytest.fixture(scope="module")
def runs(mnist):
    torch.set_num_threads(1)
    spec = TUTORIAL.replace(dtype="float64")
    streams = Streams(mnist.train_x[:N_TRAIN].astype(np.float64), spec)
    params = init_params(spec)
    oracle = tutorial_script(streams, params)
    ours = build_wgan(spec, params)
    logs = fit(ours, streams, range(len(oracle[0])), progress="none")
    return oracle, ours, logs, streams


def test_the_oracle_covers_what_it_should(runs):
    (losses, _, _), _, logs, streams = runs
    assert streams.steps_per_epoch == 21 and streams.real_batch(20).shape == (20, 784)
    assert len(losses) == 5 * N_EPOCHS  # generator steps after batches 0, 5, 10, 15, 20 of every epoch
    assert [log["step"] for log in logs[:6]] == [1, 6, 11, 16, 21, 22]  # the last batch of epoch 0 is step 21
    assert logs[-1]["epoch"] == N_EPOCHS - 1


def test_impl_pytorch_under_the_tutorial_preset_is_the_tutorial_script(runs):
    (losses, generator, discriminator), ours, logs, _ = runs
    for j, ((loss_d, loss_g), log) in enumerate(zip(losses, logs)):
        assert abs(log["critic_loss"] - loss_d) <= 1e-10 * max(1.0, abs(loss_d)), f"critic loss at G-it {j}"
        assert abs(log["generator_loss"] - loss_g) <= 1e-10 * max(1.0, abs(loss_g)), f"generator loss at G-it {j}"
    theirs = {}
    for prefix, module in (("generator", generator), ("critic", discriminator)):
        for k, m in enumerate([m for m in module.model if isinstance(m, nn.Linear)]):
            theirs[f"{prefix}.dense{k}.kernel"] = m.weight.detach().T.numpy()
            theirs[f"{prefix}.dense{k}.bias"] = m.bias.detach().numpy()
    for k, bn in zip((1, 2, 3), [m for m in generator.model if isinstance(m, nn.BatchNorm1d)]):
        theirs.update({f"generator.bn{k}.gamma": bn.weight.detach().numpy(), f"generator.bn{k}.beta": bn.bias.detach().numpy(),
                       f"generator.bn{k}.moving_mean": bn.running_mean.numpy(), f"generator.bn{k}.moving_var": bn.running_var.numpy()})
    mine = ours.get_params()
    assert set(theirs) == set(mine)
    worst = max(theirs, key=lambda name: np.abs(theirs[name] - mine[name]).max())
    assert np.abs(theirs[worst] - mine[worst]).max() <= 1e-10, worst


def test_the_old_global_schedule_is_not_the_tutorial(runs, mnist):
    """The oracle can fail: Algorithm 1's schedule (the corrected preset's) parts from the script at once."""
    (losses, _, _), _, _, _ = runs
    spec = TUTORIAL.replace(dtype="float64", generator_step_at="last", counter_restarts_each_epoch=False,
                            drop_last_batch=True)
    other = build_wgan(spec, init_params(spec))
    logs = fit(other, Streams(mnist.train_x[:N_TRAIN].astype(np.float64), spec), range(3), progress="none")
    assert abs(logs[0]["critic_loss"] - losses[0][0]) > 1e-6
