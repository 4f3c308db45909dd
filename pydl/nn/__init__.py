"""Neural-network building blocks. The functional layer is here now; modules,
losses and initialisers arrive with the nn issue."""
from . import functional  # noqa: F401
