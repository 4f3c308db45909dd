"""The nn modules, one file per group (as torch/nn/modules)."""
from .module import Module  # noqa: F401
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .linear import Bilinear, Identity, Linear  # noqa: F401
from .activation import (  # noqa: F401
    ELU, GELU, SELU, Hardtanh, LeakyReLU, ReLU, ReLU6, Sigmoid, SiLU, Softplus, Tanh,
)
from .dropout import Dropout  # noqa: F401
from .sparse import Embedding  # noqa: F401
from .flatten import Flatten, Unflatten  # noqa: F401
# --- layers: conv, pooling, normalization, softmax and more activations, channel dropout, losses ---
from .activation import (  # noqa: F401,E402
    CELU, GLU, Hardshrink, Hardsigmoid, Hardswish, LogSigmoid, LogSoftmax, Mish, PReLU, Softmax, Softmin,
    Softshrink, Softsign, Tanhshrink, Threshold,
)
from .conv import Conv2d  # noqa: F401,E402
from .pooling import (  # noqa: F401,E402
    AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d,
)
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, LocalResponseNorm  # noqa: F401,E402
from .dropout import Dropout1d, Dropout2d  # noqa: F401,E402
from .loss import (  # noqa: F401,E402
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, FocalLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
    SmoothL1Loss,
)
# --- transposed convolution (models: autoencoder, DCGAN) ---
from .conv_transpose import ConvTranspose2d  # noqa: F401,E402
# --- attention (sdpa): LayerNorm comes from the normalization block above ---
from .attention import MultiheadAttention  # noqa: F401
from .transformer import (  # noqa: F401
    Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder, TransformerEncoderLayer,
)
# --- recurrent (rnn) ---
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: F401
