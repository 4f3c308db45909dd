"""pydl.optim: optimizers with torch.optim's interface and state_dict format.

Each parameter's update runs as one fused C++ kernel (csrc/cpu/optim.cpp)
following torch's single-tensor formulas, so N steps match torch to float
rounding. Schedulers are in ``pydl.optim.lr_scheduler``.
"""
from .optimizer import Optimizer  # noqa: F401
from .sgd import SGD  # noqa: F401
from .adam import Adam, AdamW  # noqa: F401
from .adagrad import Adagrad  # noqa: F401
from .rmsprop import RMSprop  # noqa: F401
from .adadelta import Adadelta  # noqa: F401
from . import lr_scheduler  # noqa: F401
