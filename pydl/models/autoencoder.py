"""Autoencoders: a dense one (flattened inputs) and a convolutional one (strided convolutions down,
transposed convolutions up). With ``noise_std > 0`` they are denoising autoencoders: in training mode
the input is corrupted with Gaussian noise before encoding and the loss compares the reconstruction
with the clean input (Vincent et al., 2008). Outputs pass through a sigmoid: inputs are in [0, 1].
"""
from .._creation import randn_like
from .. import nn

__all__ = ["DenseAutoencoder", "ConvAutoencoder"]


class _Denoising(nn.Module):
    def __init__(self, noise_std):
        super().__init__()
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.noise_std = float(noise_std)

    def corrupt(self, x):
        if self.training and self.noise_std > 0:
            return x + randn_like(x) * self.noise_std
        return x

    def forward(self, x):
        return self.decoder(self.encoder(self.corrupt(x)))

    def encode(self, x):
        return self.encoder(x)


class DenseAutoencoder(_Denoising):
    """(N, *shape) → in_features → hidden... → latent → ...hidden → in_features, reshaped back."""

    def __init__(self, in_features, hidden=(256, 64), latent=16, noise_std=0.0):
        super().__init__(noise_std)
        enc, w = [nn.Flatten()], in_features
        for h in hidden:
            enc += [nn.Linear(w, h), nn.ReLU()]
            w = h
        enc.append(nn.Linear(w, latent))
        dec, w = [], latent
        for h in reversed(hidden):
            dec += [nn.Linear(w, h), nn.ReLU()]
            w = h
        dec += [nn.Linear(w, in_features), nn.Sigmoid()]
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)

    def forward(self, x):
        return super().forward(x).reshape(x.shape)


class ConvAutoencoder(_Denoising):
    """(N, C, H, W) with H, W divisible by 4: two stride-2 3×3 convolutions down to
    (N, 2·width, H/4, W/4), two stride-2 transposed convolutions back up."""

    def __init__(self, in_channels=1, width=16, noise_std=0.0):
        super().__init__(noise_std)
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(width, in_channels, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        if x.ndim != 4 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(f"ConvAutoencoder expects (N, C, H, W) with H and W divisible by 4, got "
                             f"{list(x.shape)}")
        return super().forward(x)
