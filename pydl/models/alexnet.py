"""AlexNet (Krizhevsky et al., 2012): five convolutions with ReLU, local response normalisation
after the first two, overlapping 3×3/2 max pooling, then three fully connected layers with dropout.

``width`` scales every channel count (1.0 = 96-256-384-384-256 as the paper) and ``fc`` the two
hidden fully connected layers (4096 in the paper), so the same definition trains on a laptop.
``small_input=True`` replaces the 11×11/4 stem by a 3×3/1 one for 28–32 px images. An adaptive
average pool to 6×6 before the classifier (as torchvision) decouples the head from the input size.
"""
from .. import nn

__all__ = ["AlexNet"]


class AlexNet(nn.Module):
    def __init__(self, in_channels=3, num_classes=1000, width=1.0, fc=4096, dropout=0.5, small_input=False,
                 lrn=True):
        super().__init__()
        c1, c2, c3, c4, c5 = (max(1, int(round(c * width))) for c in (96, 256, 384, 384, 256))
        stem = nn.Conv2d(in_channels, c1, 3, padding=1) if small_input else nn.Conv2d(in_channels, c1, 11, 4, 2)
        norm = (lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)) if lrn else nn.Identity
        self.features = nn.Sequential(
            stem, nn.ReLU(), norm(), nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), norm(), nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(c5 * 36, fc), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(fc, fc), nn.ReLU(),
            nn.Linear(fc, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))
