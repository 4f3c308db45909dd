"""VGG (Simonyan & Zisserman, 2014): stacks of 3×3 convolutions (optionally with batch norm) separated
by 2×2 max pooling, then a classifier.

Configurations as the paper's table 1: 'A' = VGG-11, 'D' = VGG-16 (numbers are output channels,
'M' a max pool). ``width`` scales the channels; ``pool_size`` is the adaptive average pool before the
classifier (7 as torchvision for 224 px; 1 for 32 px images, where the last map is 1×1 anyway) and
``fc`` the hidden classifier width (4096 in the paper).
"""
from .. import nn

__all__ = ["VGG", "vgg11", "vgg16", "CONFIGS"]

CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, config="A", in_channels=3, num_classes=1000, width=1.0, batch_norm=False, pool_size=7,
                 fc=4096, dropout=0.5):
        super().__init__()
        cfg = CONFIGS[config] if isinstance(config, str) else list(config)
        layers, c = [], in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out = max(1, int(round(v * width)))
            layers.append(nn.Conv2d(c, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            c = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(c * pool_size * pool_size, fc), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(fc, fc), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(fc, num_classes),
        )
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


def vgg11(**kw):
    return VGG("A", **kw)


def vgg16(**kw):
    return VGG("D", **kw)
