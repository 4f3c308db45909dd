"""GoogLeNet / Inception v1 (Szegedy et al., 2014): inception modules run four branches in parallel
(1×1; 1×1 reduce → 3×3; 1×1 reduce → 3×3 in place of the paper's 5×5, as torchvision; 3×3 max pool →
1×1 projection) and concatenate them on channels. The 1×1 reductions are what keep it cheap.

Module names follow torchvision's GoogLeNet (conv1, inception3a, ..., aux1, aux2, fc). ``width``
scales all channel counts; ``small_input=True`` is a 3×3/1 stem without the first two max pools,
for 28–32 px images. With ``aux_logits=True`` a training-mode forward returns
``GoogLeNetOutputs(logits, aux_logits2, aux_logits1)`` as torchvision; eval returns the logits.
"""
from collections import namedtuple

from ..ops.shape import cat
from .. import nn

__all__ = ["BasicConv2d", "Inception", "InceptionAux", "GoogLeNet", "GoogLeNetOutputs"]

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """conv (no bias) → batch norm (eps 1e-3) → ReLU."""

    def __init__(self, cin, cout, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    def __init__(self, cin, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = BasicConv2d(cin, ch1x1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(cin, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on an intermediate map: 4×4 average pool → 1×1 conv → FC → FC."""

    def __init__(self, cin, num_classes, width=1.0, dropout=0.7):
        super().__init__()
        c, hidden = max(1, int(round(128 * width))), max(1, int(round(1024 * width)))
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(cin, c, 1)
        self.fc1 = nn.Linear(c * 16, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = self.conv(self.avgpool(x)).flatten(1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of each module, from the paper's table 1
_BLOCKS = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    def __init__(self, num_classes=1000, in_channels=3, width=1.0, aux_logits=False, small_input=False,
                 dropout=0.2, aux_dropout=0.7):
        super().__init__()
        s = (lambda c: max(1, int(round(c * width))))
        self.aux_logits = aux_logits
        if small_input:
            self.conv1 = BasicConv2d(in_channels, s(64), 3, padding=1)
            self.maxpool1 = nn.Identity()
        else:
            self.conv1 = BasicConv2d(in_channels, s(64), 7, stride=2, padding=3)
            self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(s(64), s(64), 1)
        self.conv3 = BasicConv2d(s(64), s(192), 3, padding=1)
        self.maxpool2 = nn.Identity() if small_input else nn.MaxPool2d(3, stride=2, ceil_mode=True)
        c = s(192)
        for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
            block = Inception(c, *(s(v) for v in _BLOCKS[name]))
            setattr(self, "inception" + name, block)
            c = block.out_channels
            if name == "4a":
                c_aux1 = c
            if name == "4d":
                c_aux2 = c
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        if aux_logits:
            self.aux1 = InceptionAux(c_aux1, num_classes, width, aux_dropout)
            self.aux2 = InceptionAux(c_aux2, num_classes, width, aux_dropout)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(self.avgpool(x).flatten(1)))
        if self.aux_logits and self.training:
            return GoogLeNetOutputs(logits, aux2, aux1)
        return logits
