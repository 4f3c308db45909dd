"""Inputs shared by pydl and torch: made by pydl's generator, seen by torch through DLPack (the
same memory, no copy), so both libraries read exactly the same bytes."""
import pydl


def randn(*shape, dtype=None):
    """(pydl tensor, torch tensor) over the same storage."""
    import torch

    t = pydl.randn(*shape, dtype=dtype or pydl.float32)
    return t, torch.from_dlpack(t)
