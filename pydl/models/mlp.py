"""Multi-layer perceptron: Linear → activation (→ Dropout) blocks and a linear head."""
from .. import nn

__all__ = ["MLP"]

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}


class MLP(nn.Module):
    """in_features → hidden[0] → ... → hidden[-1] → num_classes.

    Inputs of any trailing shape are flattened from dim 1, so images (N, C, H, W) work directly.
    State-dict keys are ``net.<i>.weight`` / ``net.<i>.bias`` as the same nn.Sequential in torch."""

    def __init__(self, in_features, num_classes=10, hidden=(128, 64), activation="relu", dropout=0.0):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP: dropout must be in [0, 1), got {dropout}")
        layers, width = [nn.Flatten()], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), _ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
