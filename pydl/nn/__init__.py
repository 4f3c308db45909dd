"""Neural-network building blocks, as torch.nn: Module and containers, linear / conv / pooling /
normalization / dropout / embedding layers, activations, losses, attention and transformer layers,
recurrent layers, Parameter, init, functional, utils. Names, arguments, parameter names and default
initialisation follow torch.nn, so state_dicts move between the two libraries."""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
from .modules import (  # noqa: F401
    ELU, GELU, SELU, Bilinear, Dropout, Embedding, Flatten, Hardtanh, Identity, LeakyReLU, Linear, Module,
    ModuleDict, ModuleList, ParameterDict, ParameterList, ReLU, ReLU6, Sequential, Sigmoid, SiLU, Softplus,
    Tanh, Unflatten,
)
# --- attention (sdpa) ---
from .modules import (  # noqa: F401
    LayerNorm, MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
    TransformerEncoderLayer,
)
# --- recurrent (rnn) ---
from .modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: F401
from . import utils  # noqa: F401
# --- layers: conv, pooling, normalization, softmax and more activations, channel dropout, losses ---
from .modules import (  # noqa: F401,E402
    CELU, GLU, AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, BCELoss,
    BCEWithLogitsLoss, Conv2d, CrossEntropyLoss, Dropout1d, Dropout2d, FocalLoss, Hardshrink, Hardsigmoid,
    Hardswish, HuberLoss, KLDivLoss, L1Loss, LayerNorm, LocalResponseNorm, LogSigmoid, LogSoftmax, MaxPool1d,
    MaxPool2d, Mish, MSELoss, NLLLoss, PReLU, SmoothL1Loss, Softmax, Softmin, Softshrink, Softsign, Tanhshrink,
    Threshold,
)
# --- transposed convolution ---
from .modules import ConvTranspose2d  # noqa: F401,E402
