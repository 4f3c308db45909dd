"""Neural-network building blocks, as torch.nn: Module and containers, layers,
activations, Parameter, init, functional, utils. Layers that need the conv /
pool / norm / softmax / attention kernels arrive with those kernels."""
from . import functional  # noqa: F401
from . import init  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
from .modules import (  # noqa: F401
    ELU, GELU, SELU, Bilinear, Dropout, Embedding, Flatten, Hardtanh, Identity, LeakyReLU, Linear, Module,
    ModuleDict, ModuleList, ParameterDict, ParameterList, ReLU, ReLU6, Sequential, Sigmoid, SiLU, Softplus,
    Tanh, Unflatten,
)
# --- recurrent (rnn) ---
from .modules import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase  # noqa: F401
from . import utils  # noqa: F401
