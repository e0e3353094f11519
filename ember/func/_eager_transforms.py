"""``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``linearize``, ``jacrev``, ``jacfwd``,
``hessian`` (and ``functionalize``, the identity for an eager library).

ember has one tape-based autograd, so each transform differentiates with it: the
differentiated inputs become fresh tensors that require grad (a view of the input when
the input itself requires grad, so an enclosing transform or ordinary autograd still sees
through), the function runs, and ``autograd.grad`` with ``create_graph=True`` gives
results that enclosing transforms can differentiate again (nested ``grad``, ``hessian``).
At the outermost transform a result is detached unless it depends on some tensor outside
the transform that requires grad (a closed-over parameter), as torch.func returns it.
``jacfwd``, ``jvp`` and ``linearize`` are computed by reverse mode (``jvp`` by the
double-vjp trick): torch's forward-mode values, at the cost of reverse passes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from functools import wraps
from typing import Any

from .._tensor import Tensor
from ..autograd.functional import _grad_or_zeros
from ..autograd.grad_mode import enable_grad, is_grad_enabled
from ..autograd.graph import AccumulateGrad
from ._pytree import tree_flatten, tree_map, tree_unflatten

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "linearize", "functionalize", "jacrev",
           "jacfwd", "hessian"]

_LEVEL = threading.local()  # .depth: how many transforms are running on this thread

# id -> the tensor: every fresh leaf a transform made and that is still alive. A result
# that reaches only these (its own and inner transforms') is detached at the outermost level.
_FRESH: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _depth() -> int:
    return getattr(_LEVEL, "depth", 0)


class _Transform:
    """One running transform: counts the nesting depth, makes the fresh leaves, and
    detaches its results at the outermost level."""

    def __init__(self):
        self.outer = _depth()
        self._was_grad_enabled = is_grad_enabled()
        self._grad = enable_grad()

    def __enter__(self):
        _LEVEL.depth = self.outer + 1
        self._grad.__enter__()
        return self

    def __exit__(self, *exc):
        self._grad.__exit__(*exc)
        _LEVEL.depth = self.outer

    def lift(self, x: Any, what: str) -> Tensor:
        if not isinstance(x, Tensor):
            raise RuntimeError(f"{what}: Expected the inputs being differentiated to be "
                               f"Tensors, got {type(x).__name__}")
        if x.requires_grad and self._was_grad_enabled:
            return x.view_as(x)
        t = x.detach().requires_grad_(True)
        _FRESH[id(t)] = t
        return t

    def finish(self, tree: Any) -> Any:
        if self.outer > 0 or _depth() > 0:
            return tree
        return tree_map(lambda t: t if self._reaches_outside(t) else _detach(t), tree)

    def _reaches_outside(self, t: Any) -> bool:
        if not isinstance(t, Tensor) or not t.requires_grad:
            return False
        if t.grad_fn is None:
            return _FRESH.get(id(t)) is not t
        seen, stack = set(), [t.grad_fn]
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, AccumulateGrad) and _FRESH.get(id(node.variable)) is not \
                    node.variable:
                return True
            stack.extend(n for n, _ in node.next_functions)
        return False


def _detach(x: Any) -> Any:
    return x.detach() if isinstance(x, Tensor) else x


def _lift_argnums(tr: _Transform, args: tuple, argnums, what: str) -> tuple[tuple, Any]:
    """``args`` with the differentiated ones lifted, and those (one, or a tuple for a
    tuple ``argnums``)."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    if not nums or not all(isinstance(n, int) for n in nums):
        raise RuntimeError(f"{what}: Expected argnums to be int or tuple of ints, got "
                           f"{argnums!r}")
    nums = tuple(n + len(args) if n < 0 else n for n in nums)
    for n in nums:
        if not 0 <= n < len(args):
            raise RuntimeError(f"{what}: Got argnums={argnums}, but only {len(args)} "
                               f"positional inputs")
    args = list(args)
    for n in dict.fromkeys(nums):
        args[n] = tree_map(lambda x: tr.lift(x, what), args[n])
    diff = args[nums[0]] if single else tuple(args[n] for n in nums)
    return tuple(args), diff


def _split_aux(out: Any, has_aux: bool, what: str) -> tuple[Any, Any]:
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{what}(f, ...)(*args): output of function f should be a tuple: "
                           f"(output, aux) if has_aux is True")
    return out


def grad_and_value(func: Callable, argnums: int | tuple[int, ...] = 0,
                   has_aux: bool = False) -> Callable:
    """A function returning ``(gradient of func w.r.t. argnums, func's value)``
    (``(grad, (value, aux))`` with ``has_aux``); func must return a 0-dim tensor."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        with _Transform() as tr:
            args, diff = _lift_argnums(tr, args, argnums, "grad_and_value")
            out, aux = _split_aux(func(*args, **kwargs), has_aux, "grad_and_value")
            if not isinstance(out, Tensor):
                raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a "
                                   f"Tensor, got {type(out)}")
            if out.dim() != 0:
                raise RuntimeError(f"grad_and_value(f)(*args): Expected f(*args) to return a "
                                   f"scalar Tensor, got tensor with {out.dim()} dims. Maybe "
                                   f"you wanted to use the vjp or jacrev APIs instead?")
            leaves, spec = tree_flatten(diff)
            grads = _grad_or_zeros((out,), tuple(leaves), (out.new_ones(()),), True, False,
                                   "grad")
            result = (tree_unflatten(list(grads), spec), (out, aux) if has_aux else out)
        return tr.finish(result)
    return wrapper


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """A function returning the gradient of ``func`` w.r.t. ``argnums`` (and ``aux``)."""
    gv = grad_and_value(func, argnums, has_aux)

    @wraps(func)
    def wrapper(*args, **kwargs):
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


def vjp(func: Callable, *primals, has_aux: bool = False):
    """``(func(*primals), vjp_fn)`` (and ``aux``); ``vjp_fn(cotangents)`` returns a tuple
    with the vector-Jacobian product for each primal, and may be called many times."""
    with _Transform() as tr:
        lifted = tree_map(lambda x: tr.lift(x, "vjp"), primals)
        out, aux = _split_aux(func(*lifted), has_aux, "vjp")
    out_leaves, out_spec = tree_flatten(out)
    in_leaves, in_spec = tree_flatten(lifted)
    for o in out_leaves:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"vjp(f, *primals): Expected f(*primals) to return only "
                               f"tensors, got unsupported type {type(o)}")

    def vjp_fn(cotangents):
        ct_leaves, ct_spec = tree_flatten(cotangents)
        if ct_spec != out_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as "
                               "pytree structure of outputs to the function")
        for o, c in zip(out_leaves, ct_leaves):
            if not isinstance(c, Tensor) or tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output has a shape of "
                                   f"{tuple(getattr(c, 'shape', ()))} and output has a shape "
                                   f"of {tuple(o.shape)}.")
        with enable_grad():
            grads = _grad_or_zeros(tuple(out_leaves), tuple(in_leaves), tuple(ct_leaves),
                                   True, False, "vjp")
        return tr.finish(tree_unflatten(list(grads), in_spec))

    result = (tr.finish(out), vjp_fn)
    return (*result, tr.finish(aux)) if has_aux else result


class _Linearized:
    """``func`` run once at ``primals`` with the graph kept for Jacobian-vector products by
    the double-vjp trick: the vjp with a dummy cotangent ``u`` is linear in ``u``, so its
    gradient w.r.t. ``u`` along a tangent ``v`` is ``J v``."""

    def __init__(self, func: Callable, primals: tuple, has_aux: bool, what: str):
        with _Transform() as tr:
            lifted = tree_map(lambda x: tr.lift(x, what), primals)
            self.out, self.aux = _split_aux(func(*lifted), has_aux, what)
            out_leaves, self.out_spec = tree_flatten(self.out)
            self.in_leaves, self.in_spec = tree_flatten(lifted)
            self.dummies = tuple(tr.lift(o.new_zeros(o.shape), what) for o in out_leaves)
            self.g = _grad_or_zeros(tuple(out_leaves), tuple(self.in_leaves), self.dummies,
                                    True, False, what)
        self.tr, self.what = tr, what

    def jvp(self, tangents: tuple) -> Any:
        leaves, spec = tree_flatten(tangents)
        if spec != self.in_spec:
            raise RuntimeError(f"{self.what}: Expected primals and tangents to have the same "
                               f"python structure")
        with enable_grad():
            pairs = [(g, t) for g, t in zip(self.g, leaves) if g.requires_grad]
            jv = _grad_or_zeros(tuple(p[0] for p in pairs), self.dummies,
                                tuple(p[1] for p in pairs), True, False, self.what) \
                if pairs else tuple(d.detach() for d in self.dummies)
        return self.tr.finish(tree_unflatten(list(jv), self.out_spec))


def jvp(func: Callable, primals: tuple, tangents: tuple, *, strict: bool = False,
        has_aux: bool = False):
    """``(func(*primals), J @ tangents)`` (and ``aux``), by reverse mode (double vjp)."""
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise RuntimeError("jvp(f, primals, tangents): Expected primals and tangents to be "
                           "tuples")
    lin = _Linearized(func, primals, has_aux, "jvp(f, primals, tangents)")
    result = (lin.tr.finish(lin.out), lin.jvp(tangents))
    return (*result, lin.tr.finish(lin.aux)) if has_aux else result


def linearize(func: Callable, *primals) -> tuple[Any, Callable]:
    """``(func(*primals), jvp_fn)``: ``jvp_fn(*tangents)`` is ``J @ tangents`` at the
    primals, reusing the one recorded run (by reverse mode, as ``jvp``)."""
    lin = _Linearized(func, primals, False, "linearize")
    return lin.tr.finish(lin.out), lambda *tangents: lin.jvp(tangents)


def functionalize(func: Callable, *, remove: str = "mutations") -> Callable:
    """``func`` itself: torch's functionalize rewrites mutations away for its graph
    compilers while keeping what the function computes and does to its inputs; ember runs
    eagerly, so the function as written already has exactly those semantics."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(f"functionalize(f, remove='mutations'): received invalid argument "
                           f"for remove={remove}. Valid options are:\n     remove='mutations': "
                           f"all inplace and out= operators will be removed from the program, "
                           f"and replaced with their out-of-place equivalents.\n     "
                           f"remove='mutations_and_views': In addition to the above, all "
                           f"aliasing operators (view ops) will be replaced with their "
                           f"non-aliasing counterparts, (view ops).")
    return wraps(func)(lambda *args, **kwargs: func(*args, **kwargs))


def _jacobian(func: Callable, argnums, has_aux: bool, what: str) -> Callable:
    from ..ops.shape import stack

    @wraps(func)
    def wrapper(*args, **kwargs):
        with _Transform() as tr:
            args, diff = _lift_argnums(tr, args, argnums, what)
            out, aux = _split_aux(func(*args, **kwargs), has_aux, what)
            in_leaves, in_spec = tree_flatten(diff)
            out_leaves, out_spec = tree_flatten(out)
            per_output = []
            for o in out_leaves:
                if not isinstance(o, Tensor):
                    raise RuntimeError(f"{what}(f, ...)(*args): Expected f(*args) to return "
                                       f"only tensors, got unsupported type {type(o)}")
                rows = []
                for k in range(o.numel()):
                    basis = o.new_zeros(o.numel())
                    basis[k] = 1
                    rows.append(_grad_or_zeros((o,), tuple(in_leaves), (basis.view(o.shape),),
                                               True, False, what))
                jac = [stack([r[j] for r in rows]).reshape(tuple(o.shape) + tuple(i.shape))
                       if rows else i.new_zeros(tuple(o.shape) + tuple(i.shape))
                       for j, i in enumerate(in_leaves)]
                per_output.append(tree_unflatten(jac, in_spec))
            result = tree_unflatten(per_output, out_spec)
        result = tr.finish(result)
        return (result, tr.finish(aux)) if has_aux else result
    return wrapper


def jacrev(func: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False,
           chunk_size: int | None = None, _preallocate_and_copy: bool = False) -> Callable:
    """The Jacobian of ``func`` w.r.t. ``argnums``, one reverse pass per output element;
    shaped ``output.shape + input.shape`` for each output and input leaf. ``chunk_size``
    is accepted for torch's signature: the rows are computed one at a time anyway."""
    return _jacobian(func, argnums, has_aux, "jacrev")


def jacfwd(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """The Jacobian of ``func`` w.r.t. ``argnums``. Computed by reverse mode (ember has no
    forward-mode AD): torch's values, with one reverse pass per output element. Random ops
    in ``func`` draw as they would outside (``randomness`` is accepted, not enforced)."""
    return _jacobian(func, argnums, has_aux, "jacfwd")


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Hessian of a scalar ``func`` w.r.t. ``argnums``: ``jacfwd(jacrev(func))``."""
    return jacfwd(jacrev(func, argnums), argnums)
