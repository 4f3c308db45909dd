"""DCGAN (Radford et al., 2015): a generator of transposed convolutions (BN + ReLU, tanh out) and a
discriminator of strided convolutions (BN + LeakyReLU 0.2, one logit out), trained by alternating
steps: D on real (label 1) and generated (label 0) images, then G to make D say 1.

Sizes: image_size = base · 2^k with base in 4..7 (28 = 7·4, 32 = 4·8, 24 = 6·4, 64 = 4·16). The
generator maps z (N, latent_dim) through a base×base map and k stride-2 up-samplings; the
discriminator mirrors it. Images are in [-1, 1].
"""
from .. import nn
from ..nn import functional as F

__all__ = ["Generator", "Discriminator", "dcgan_init_", "gan_train_step"]


def _plan(image_size):
    for k in range(0, 8):
        base, rem = divmod(image_size, 2 ** k)
        if rem == 0 and 4 <= base <= 7:
            return base, k
    raise ValueError(f"DCGAN: image_size must be base·2^k with base in 4..7 (e.g. 24, 28, 32, 64), got "
                     f"{image_size}")


class Generator(nn.Module):
    def __init__(self, latent_dim=64, channels=1, image_size=28, width=32):
        super().__init__()
        base, k = _plan(image_size)
        if k < 1:
            raise ValueError(f"DCGAN Generator: image_size {image_size} needs at least one up-sampling")
        self.latent_dim = latent_dim
        c = width * 2 ** (k - 1)
        layers = [nn.ConvTranspose2d(latent_dim, c, base, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, channels=1, image_size=28, width=32):
        super().__init__()
        base, k = _plan(image_size)
        if k < 1:
            raise ValueError(f"DCGAN Discriminator: image_size {image_size} needs at least one down-sampling")
        layers, c = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)], width
        for _ in range(k - 1):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2)]
            c *= 2
        layers += [nn.Conv2d(c, 1, base, 1, 0, bias=False), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).reshape(x.shape[0])


def dcgan_init_(module):
    """The DCGAN paper's initialisation: conv weights ~ N(0, 0.02), BN weight ~ N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def gan_train_step(generator, discriminator, opt_g, opt_d, real, z):
    """One alternating step; returns (loss_d, loss_g) as floats. ``z``: (N, latent_dim) noise."""
    from .._creation import ones, zeros
    n = real.shape[0]
    ones_, zeros_ = ones(n, dtype=real.dtype), zeros(n, dtype=real.dtype)
    # discriminator: real → 1, fake → 0 (the fake is detached: this step must not update G)
    fake = generator(z)
    opt_d.zero_grad()
    loss_d = (F.binary_cross_entropy_with_logits(discriminator(real), ones_)
              + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros_))
    loss_d.backward()
    opt_d.step()
    # generator: make D call the fake real (the non-saturating loss of the GAN paper)
    opt_g.zero_grad()
    loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones_)
    loss_g.backward()
    opt_g.step()
    return float(loss_d.item()), float(loss_g.item())
