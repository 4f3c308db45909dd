"""The built-in benchmark families. A new family is a module here with one ``@register`` function
(see ``pydl/bench/registry.py``) and one line below; the order below is the order they run in."""
from . import matmul  # noqa: F401
from . import elementwise  # noqa: F401
from . import reductions  # noqa: F401
from . import softmax_norm  # noqa: F401
from . import conv2d  # noqa: F401
from . import pooling  # noqa: F401
from . import autograd  # noqa: F401
# --- attention (sdpa) ---
from . import attention  # noqa: F401
# --- recurrent (rnn) ---
from . import rnn  # noqa: F401
# --- layers: embedding, dropout, lrn ---
from . import embedding  # noqa: F401,E402
from . import dropout  # noqa: F401,E402
from . import lrn  # noqa: F401,E402
# --- language models (gpt) ---
from . import lm  # noqa: F401
