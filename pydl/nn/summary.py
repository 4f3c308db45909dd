"""pydl.summary(model, input_shape): a per-layer table of a model, from one forward pass.

Forward hooks (Module.register_forward_hook) on every submodule record, in call order, each
module's output shape and its own (non-recursive) parameter count; the table prints them with
the totals, which count every parameter of the model once (shared parameters are not counted
twice). The model runs in eval mode under no_grad on random input, and its train/eval flags and
pydl's random generator state are restored afterwards: a summary changes nothing (BatchNorm's
running statistics and the next random numbers are what they would have been without it).
"""
from .. import _creation as C
from .. import _dtype as D
from ..autograd import no_grad

__all__ = ["summary"]


def _shape_of(out):
    if hasattr(out, "shape") and hasattr(out, "dtype"):
        return list(out.shape)
    if isinstance(out, (tuple, list)):
        return [_shape_of(o) for o in out]
    if isinstance(out, dict):
        return {k: _shape_of(v) for k, v in out.items()}
    return None


def _is_shape(s):
    return isinstance(s, (tuple, list)) and all(isinstance(d, int) for d in s)


def summary(model, input_shape, dtype=D.float32, print_fn=print):
    """Runs model on random input(s) of ``input_shape`` (the full shape, batch included; a list of
    shapes for a model with several inputs) and prints one row per module call: name, type, output
    shape, own parameter count, whether those parameters are trainable. Returns
    {"total_params", "trainable_params", "non_trainable_params", "layers": [row dicts]}."""
    shapes = [tuple(input_shape)] if _is_shape(input_shape) else [tuple(s) for s in input_shape]
    names = {id(m): n for n, m in model.named_modules()}
    rows = []
    handles = []

    def hook(module, args, out):
        own = [p for p in module.parameters(recurse=False)]
        n = sum(p.numel() for p in own)
        ntrain = sum(p.numel() for p in own if p.requires_grad)
        name = names.get(id(module), "?")
        rows.append({
            "name": name or "(model)",
            "type": type(module).__name__,
            "depth": 0 if not name else name.count(".") + 1,
            "output_shape": _shape_of(out),
            "params": n,
            "trainable": None if n == 0 else (ntrain == n if ntrain in (0, n) else "partial"),
        })

    for m in model.modules():
        handles.append(m.register_forward_hook(hook))
    modes = {id(m): m.training for m in model.modules()}
    rng = C.get_rng_state()
    try:
        model.eval()
        dt = D.as_dtype(dtype) or D.float32
        xs = [C.randn(*s, dtype=dt) for s in shapes]
        with no_grad():
            model(*xs)
    finally:
        for h in handles:
            h.remove()
        for m in model.modules():
            m.training = modes[id(m)]
        C.set_rng_state(rng)
    # The hooks fire post-order (a container after its children); print in call order of entry:
    # a parent before its children, as torch users expect from a summary.
    rows = _preorder(rows)

    seen, total, trainable = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    result = {"total_params": total, "trainable_params": trainable, "non_trainable_params": total - trainable,
              "layers": rows}
    if print_fn is not None:
        print_fn(_table(rows, result))
    return result


def _preorder(rows):
    """Post-order hook rows -> pre-order: each row moves in front of the run of deeper rows that
    directly precede it (its children)."""
    out = []
    for r in rows:
        i = len(out)
        while i > 0 and out[i - 1]["depth"] > r["depth"]:
            i -= 1
        out.insert(i, r)
    return out


def _table(rows, res):
    head = ("Layer (type)", "Output shape", "Param #", "Trainable")
    body = []
    for r in rows:
        label = "  " * r["depth"] + f"{r['name']} ({r['type']})"
        tr = "-" if r["trainable"] is None else str(r["trainable"])
        body.append((label, str(r["output_shape"]), f"{r['params']:,}", tr))
    widths = [max(len(x[i]) for x in [head] + body) for i in range(4)]
    line = "-" * (sum(widths) + 3 * 3)

    def fmt(cells):   # names and shapes left-aligned, numbers right-aligned
        return " | ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    out = [line, fmt(head), line] + [fmt(b) for b in body] + [line]
    out += [f"Total params: {res['total_params']:,}", f"Trainable params: {res['trainable_params']:,}",
            f"Non-trainable params: {res['non_trainable_params']:,}", line]
    return "\n".join(out)
