"""LeNet-5 (LeCun et al., 1998), in its classic (tanh + average pooling) and modern (ReLU + max
pooling) forms.

Shapes for the default 28×28 input: (N, C, 28, 28) → conv1 5×5 pad 2 → (N, 6, 28, 28) → pool →
(N, 6, 14, 14) → conv2 5×5 → (N, 16, 10, 10) → pool → (N, 16, 5, 5) → 400 → 120 → 84 → classes.
32×32 inputs (the original) use no padding on conv1 and reach the same 5×5 map.
"""
from .. import nn

__all__ = ["LeNet5"]


class LeNet5(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, input_size=28, classic=False):
        super().__init__()
        pad = {28: 2, 32: 0}.get(input_size)
        if pad is None:
            raise ValueError(f"LeNet5: input_size must be 28 (MNIST, conv1 padded by 2) or 32 (the original), "
                             f"got {input_size}")
        act = nn.Tanh if classic else nn.ReLU
        pool = (lambda: nn.AvgPool2d(2)) if classic else (lambda: nn.MaxPool2d(2))
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad), act(), pool(),
            nn.Conv2d(6, 16, 5), act(), pool(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
