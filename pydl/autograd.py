"""Define-by-run reverse-mode autograd.

Every differentiable op is a :class:`Function` with ``forward(ctx, ...)`` and
``backward(ctx, *grad_outputs)``. ``Function.apply`` runs the forward with
grad recording off and, when an input requires grad, attaches a :class:`Node`
to the outputs: the node remembers the function, its context (saved tensors)
and where each input's gradient goes next (another node, or a leaf tensor's
``.grad``).

``backward`` walks the graph iteratively (no recursion, so graphs of any depth
work), in reverse topological order, summing the gradients that reach each
node, and frees saved tensors afterwards unless ``retain_graph=True``.
"""
import threading
import weakref

import numpy as np

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


def set_grad_enabled(mode):
    _state.enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets grad mode for its body."""

    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.prev = is_grad_enabled()
        set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self.prev)
        return False

    def __call__(self, fn):
        mode = self.mode

        def wrapper(*args, **kwargs):
            with _GradMode(mode):
                return fn(*args, **kwargs)

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = getattr(fn, "__doc__", None)
        return wrapper


class no_grad(_GradMode):
    """``with pydl.no_grad():`` or ``@pydl.no_grad()``: record nothing."""

    def __init__(self, fn=None):
        super().__init__(False)


class enable_grad(_GradMode):
    def __init__(self):
        super().__init__(True)


class Context:
    """What a forward keeps for its backward."""

    __slots__ = ("saved", "_versions", "needs_input_grad", "in_shapes", "__dict__")

    def __init__(self):
        self.saved = ()
        self._versions = ()
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        self.saved = tensors
        self._versions = tuple(t._version[0] if t is not None else None for t in tensors)

    @property
    def saved_tensors(self):
        if self.saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved tensors "
                "after they have already been freed). Saved intermediate values of the graph are freed "
                "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
                "backward through the graph a second time or if you need to access saved tensors after "
                "calling backward.")
        for t, v in zip(self.saved, self._versions):
            if t is not None and t._version[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{t.dtype.name} {list(t.shape)}] is at version {t._version[0]}; "
                    f"expected version {v} instead.")
        return self.saved


class Node:
    """One recorded op in the graph (what ``tensor.grad_fn`` returns)."""

    __slots__ = ("fn", "ctx", "next", "n_outputs", "out_meta", "retained", "released", "__weakref__")

    def __init__(self, fn, ctx, next_, out_meta):
        self.fn = fn
        self.ctx = ctx
        self.next = next_          # per input: None | ("node", Node, output_nr) | ("leaf", Tensor)
        self.n_outputs = len(out_meta)
        self.out_meta = out_meta   # per output: (shape, dtype) for zero-filling missing grads
        self.retained = None       # output_nr -> weakref of a non-leaf that asked for .grad
        self.released = False

    def name(self):
        return self.fn.__name__ + "Backward"

    @property
    def next_functions(self):
        out = []
        for n in self.next:
            if n is None:
                out.append((None, 0))
            elif n[0] == "node":
                out.append((n[1], n[2]))
            else:
                out.append((AccumulateGrad(n[1]), 0))
        return tuple(out)

    def __repr__(self):
        return f"<{self.name()}>"


class AccumulateGrad:
    """Stands for a leaf in ``next_functions`` (as in PyTorch)."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad>"


class Function:
    """Base class of differentiable ops: subclass with static forward/backward."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        from ._tensor import Tensor

        ctx = Context()
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = is_grad_enabled() and any(needs)
        ctx.needs_input_grad = needs
        ctx.in_shapes = tuple(a.shape if isinstance(a, Tensor) else None for a in args)
        prev = is_grad_enabled()
        set_grad_enabled(False)
        try:
            out = cls.forward(ctx, *args)
        finally:
            set_grad_enabled(prev)
        if not record:
            return out
        outs = out if isinstance(out, tuple) else (out,)
        next_ = []
        for a, need in zip(args, needs):
            if not need:
                next_.append(None)
            elif a.grad_fn is not None:
                next_.append(("node", a.grad_fn, a._output_nr))
            else:
                next_.append(("leaf", a))
        node = Node(cls, ctx, tuple(next_), tuple((o.shape, o.dtype) for o in outs))
        nondiff = getattr(cls, "non_differentiable_outputs", ())
        for i, o in enumerate(outs):
            if o.dtype.is_floating_point and i not in nondiff:
                o._requires_grad = True
                o.grad_fn = node
                o._output_nr = i
        return out


def _collect(root):
    """Nodes reachable from root, and how many gradient edges enter each."""
    deps = {root: 0}
    stack = [root]
    while stack:
        node = stack.pop()
        for n in node.next:
            if n is not None and n[0] == "node":
                child = n[1]
                if child in deps:
                    deps[child] += 1
                else:
                    deps[child] = 1
                    stack.append(child)
    return deps


def _accumulate(slot, g):
    return g if slot is None else slot + g


def run_backward(roots, grads, retain_graph=False):
    """Backpropagates ``grads`` from ``roots`` (tensors) into leaf ``.grad``."""
    pending = {}  # node -> list of summed output grads
    leaf_grads = []
    for t, g in zip(roots, grads):
        if t.grad_fn is None:
            if t.requires_grad:
                leaf_grads.append((t, g))
            continue
        slots = pending.setdefault(t.grad_fn, [None] * t.grad_fn.n_outputs)
        slots[t._output_nr] = _accumulate(slots[t._output_nr], g)

    # How many gradient edges enter each node, over the union of the graphs
    # under all roots: a node runs once every edge into it has delivered.
    deps = {n: 0 for n in pending}
    stack = list(pending)
    while stack:
        node = stack.pop()
        for e in node.next:
            if e is not None and e[0] == "node":
                child = e[1]
                if child not in deps:
                    deps[child] = 0
                    stack.append(child)
                deps[child] += 1
    ready = [n for n in pending if deps[n] == 0]
    from . import _creation
    with no_grad():
        while ready:
            node = ready.pop()
            slots = pending.pop(node, None)
            if slots is None or all(s is None for s in slots):
                # No gradient reached this node: nothing flows below it either.
                for e in node.next:
                    if e is not None and e[0] == "node":
                        _release_edge(e[1], deps, ready)
                continue
            if node.released:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access saved "
                    "tensors after they have already been freed). Saved intermediate values of the graph "
                    "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
                    "you need to backward through the graph a second time or if you need to access saved "
                    "tensors after calling backward.")
            if node.retained:
                for i, ref in node.retained.items():
                    t = ref()
                    if t is not None and slots[i] is not None:
                        t.grad = slots[i].detach().clone() if t.grad is None else t.grad + slots[i]
            slots = [s if s is not None else _creation.zeros(meta[0], dtype=meta[1])
                     for s, meta in zip(slots, node.out_meta)]
            in_grads = node.fn.backward(node.ctx, *slots)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if len(in_grads) < len(node.next):
                in_grads = in_grads + (None,) * (len(node.next) - len(in_grads))
            if not retain_graph:
                node.ctx.saved = None
                node.released = True
            for edge, g in zip(node.next, in_grads):
                if edge is None:
                    continue
                if edge[0] == "leaf":
                    if g is not None:
                        leaf_grads.append((edge[1], g))
                    continue
                child, nr = edge[1], edge[2]
                if g is not None:
                    slots_c = pending.setdefault(child, [None] * child.n_outputs)
                    slots_c[nr] = _accumulate(slots_c[nr], g)
                _release_edge(child, deps, ready)
        for t, g in leaf_grads:
            if g.shape != t.shape:
                raise RuntimeError(f"Function returned an invalid gradient - got {list(g.shape)} but "
                                   f"expected shape compatible with {list(t.shape)}")
            if g.dtype != t.dtype:
                g = g.to(t.dtype)
            if t.grad is None:
                # A copy: the same gradient tensor may reach several leaves (or be
                # the caller's), and in-place edits of one .grad must not leak.
                t.grad = g.detach().clone()
            else:
                t.grad = t.grad + g


def _release_edge(child, deps, ready):
    deps[child] -= 1
    if deps[child] == 0:
        ready.append(child)


def backward(tensors, grad_tensors=None, retain_graph=False):
    from ._tensor import Tensor

    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    elif isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors]
    roots, grads = [], []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            from . import _creation
            g = _creation.ones(t.shape, dtype=t.dtype)
        else:
            if not isinstance(g, Tensor):
                from . import _creation
                g = _creation.tensor(g, dtype=t.dtype)
            if g.shape != t.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} "
                                   f"and output[0] has a shape of {tuple(t.shape)}.")
        roots.append(t)
        grads.append(g)
    run_backward(roots, grads, retain_graph=retain_graph)


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares backward with central finite differences (float64 inputs).

    For every output element the analytic row of the Jacobian (one backward
    pass with a one-hot upstream gradient) must match (f(x+eps) - f(x-eps)) / 2eps.
    """
    from ._tensor import Tensor

    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    for i in diff:
        if inputs[i].dtype.name != "float64":
            raise ValueError("gradcheck expects float64 inputs that require grad "
                             f"(input {i} is {inputs[i].dtype.name})")

    def run(args):
        out = fn(*args)
        return out if isinstance(out, tuple) else (out,)

    with no_grad():
        base = run(inputs)
    n_out = [o.numel() for o in base]
    for i in diff:
        x = inputs[i]
        xa = x.detach().numpy().copy()
        numeric = np.zeros((xa.size, sum(n_out)))
        flat = xa.reshape(-1)
        for k in range(flat.size):
            vals = []
            for sign in (1, -1):
                pert = flat.copy()
                pert[k] += sign * eps
                from . import _creation
                xp = _creation.tensor(pert.reshape(xa.shape), dtype=x.dtype)
                args = list(inputs)
                args[i] = xp
                with no_grad():
                    outs = run(args)
                vals.append(np.concatenate([o.detach().numpy().reshape(-1).astype(np.float64) for o in outs]))
            numeric[k] = (vals[0] - vals[1]) / (2 * eps)
        analytic = np.zeros_like(numeric)
        col = 0
        for oi, m in enumerate(n_out):
            for j in range(m):
                for a in inputs:
                    if isinstance(a, Tensor):
                        a.grad = None
                outs = run(inputs)
                o = outs[oi]
                if not o.requires_grad:
                    col += 1
                    continue
                g = np.zeros(o.numel())
                g[j] = 1.0
                from . import _creation
                o.backward(_creation.tensor(g.reshape(tuple(o.shape)), dtype=o.dtype))
                if x.grad is not None:
                    analytic[:, col] = x.grad.numpy().reshape(-1)
                col += 1
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            if not raise_exception:
                return False
            err = np.abs(analytic - numeric)
            k = np.unravel_index(np.argmax(err), err.shape)
            raise RuntimeError(f"Jacobian mismatch for input {i}: numerical {numeric[k]:.8g} vs analytical "
                               f"{analytic[k]:.8g} at (input element {k[0]}, output element {k[1]})\n"
                               f"numerical:\n{numeric}\nanalytical:\n{analytic}")
    for a in inputs:
        if isinstance(a, Tensor):
            a.grad = None
    return True
