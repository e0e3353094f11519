"""``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``linearize``, ``jacrev``, ``jacfwd``,
``hessian`` (and ``functionalize``, the identity for an eager library).

The reverse-mode transforms differentiate with ember's tape: the differentiated inputs
become fresh tensors that require grad (a view of the input when the input itself
requires grad, so an enclosing transform or ordinary autograd still sees through; dual
when a forward-AD level gave the input a tangent), the function runs, and
``autograd.grad`` with ``create_graph=True`` gives results that enclosing transforms can
differentiate again (nested ``grad``, ``hessian``). At the outermost transform a result is
detached unless it depends on some tensor outside the transform that requires grad (a
closed-over parameter), as torch.func returns it.

``jvp`` and ``jacfwd`` use forward-mode AD (``ember.autograd.forward_ad``): one run of the
function per tangent. ember's forward AD has one level at a time, as torch's
``forward_ad``; a ``jvp``/``jacfwd`` inside another runs by reverse mode instead (``jvp``
by the double-vjp trick), as ``linearize`` always does: the same values, and the
reverse-mode graph the outer level's tangents flow through.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from functools import wraps
from typing import Any

from .._tensor import Tensor
from ..autograd import forward_ad as fwAD
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
        tangent = fwAD.unpack_dual(x).tangent
        return t if tangent is None else fwAD.make_dual(t, tangent)  # forward-over-reverse

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


def _argnums(args: tuple, argnums, what: str) -> tuple[int, ...]:
    """``argnums`` checked and made a tuple of non-negative positions in ``args``."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(n, int) for n in nums):
        raise RuntimeError(f"{what}: Expected argnums to be int or tuple of ints, got "
                           f"{argnums!r}")
    nums = tuple(n + len(args) if n < 0 else n for n in nums)
    for n in nums:
        if not 0 <= n < len(args):
            raise RuntimeError(f"{what}: Got argnums={argnums}, but only {len(args)} "
                               f"positional inputs")
    return nums


def _lift_argnums(tr: _Transform, args: tuple, argnums, what: str) -> tuple[tuple, Any]:
    """``args`` with the differentiated ones lifted, and those (one, or a tuple for a
    tuple ``argnums``)."""
    single = isinstance(argnums, int)
    nums = _argnums(args, argnums, what)
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
    """``(func(*primals), J @ tangents)`` (and ``aux``), by forward-mode AD: one run of
    ``func`` on dual tensors (by reverse mode, the double-vjp trick, inside another
    forward-AD level). An output independent of the primals gets a zero tangent
    (``strict=True``: an error)."""
    what = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{what}: Expected primals to be a tuple. E.g. it should be valid "
                           f"to call f(*primals).")
    if not isinstance(tangents, tuple):
        raise RuntimeError(f"{what}: Expected tangents to be a tuple")
    p_leaves, p_spec = tree_flatten(primals)
    t_leaves, t_spec = tree_flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(f"{what}: Expected primals and tangents to have the same python "
                           f"structure. For example, if primals is a tuple of 3 tensors, "
                           f"tangents also must be. Got primals with structure {p_spec} and "
                           f"tangents with structure {t_spec}")
    for name, leaves in (("primals", p_leaves), ("tangents", t_leaves)):
        if not leaves:
            raise RuntimeError(f"{what}: Expected {name} to contain at least one Tensor.")
        for x in leaves:
            if not isinstance(x, Tensor):
                raise RuntimeError(f"{what}: Expected {name} to only contain Tensors, got "
                                   f"{type(x)}")
    if fwAD._current_level() >= 0:
        lin = _Linearized(func, primals, has_aux, what)
        result = (lin.tr.finish(lin.out), lin.jvp(tangents))
        return (*result, lin.tr.finish(lin.aux)) if has_aux else result
    with _Transform() as tr, fwAD.dual_level():
        duals = [fwAD.make_dual(p, t) for p, t in zip(p_leaves, t_leaves)]
        out, aux = _split_aux(func(*tree_unflatten(duals, p_spec)), has_aux, what)
        outs, tans, out_spec = _unpack_outputs(out, what, strict)
    result = tr.finish((tree_unflatten(outs, out_spec), tree_unflatten(tans, out_spec)))
    return (*result, tr.finish(aux)) if has_aux else result


def _unpack_outputs(out: Any, what: str, strict: bool = False) -> tuple[list, list, Any]:
    """Primals and tangents (zeros where an output has none) of ``out``'s leaves."""
    leaves, spec = tree_flatten(out)
    if not leaves or (len(leaves) == 1 and leaves[0] is None):
        raise RuntimeError(f"{what}: Expected f to be a function that has non-empty output "
                           f"(got output = {leaves})")
    primals, tangents = [], []
    for o in leaves:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{what}: expected f(*primals) to return only tensors, got "
                               f"unsupported type {type(o)}")
        primal, tangent = fwAD.unpack_dual(o)
        if tangent is None:
            if strict:
                raise RuntimeError(f"{what[:-1]}, strict=True): The output of f is "
                                   f"independent of the inputs. This is not allowed with "
                                   f"strict=True.")
            tangent = o.new_zeros(o.shape)
        primals.append(primal)
        tangents.append(tangent)
    return primals, tangents, spec


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
    """The Jacobian of ``func`` w.r.t. ``argnums`` by forward-mode AD, one run of ``func``
    per input element (its columns); shaped ``output.shape + input.shape`` for each output
    and input leaf. Inside another forward-AD level it runs by reverse mode. Random ops in
    ``func`` draw anew on each run (``randomness`` is accepted, not enforced)."""
    from ..ops.shape import stack

    @wraps(func)
    def wrapper(*args, **kwargs):
        if fwAD._current_level() >= 0:
            return _jacobian(func, argnums, has_aux, "jacfwd")(*args, **kwargs)
        nums = _argnums(args, argnums, "jacfwd")
        diff = args[nums[0]] if isinstance(argnums, int) else tuple(args[n] for n in nums)
        in_leaves, in_spec = tree_flatten(diff)
        for x in in_leaves:
            if not isinstance(x, Tensor):
                raise RuntimeError(f"jacfwd: Expected the inputs being differentiated to be "
                                   f"Tensors, got {type(x).__name__}")
        with _Transform() as tr:
            columns = [[] for _ in in_leaves]  # per input leaf: the output tangents per element
            out = aux = None
            for j, leaf in enumerate(in_leaves):
                for k in range(leaf.numel()):
                    basis = leaf.new_zeros(leaf.numel())
                    basis[k] = 1
                    leaves = list(in_leaves)
                    with fwAD.dual_level():
                        leaves[j] = fwAD.make_dual(leaf, basis.view(leaf.shape))
                        out, aux = _call_with(func, args, kwargs, nums, argnums,
                                              tree_unflatten(leaves, in_spec), has_aux)
                        outs, tangents, out_spec = _unpack_outputs(out, "jacfwd")
                    columns[j].append(tangents)
            if out is None:  # nothing to differentiate: the shapes come from one plain run
                out, aux = _call_with(func, args, kwargs, nums, argnums, diff, has_aux)
                outs, _, out_spec = _unpack_outputs(out, "jacfwd")
            per_output = []
            for i, o in enumerate(outs):
                jac = [stack([col[i] for col in cols], -1).reshape(tuple(o.shape) +
                                                                   tuple(x.shape))
                       if cols else o.new_zeros(tuple(o.shape) + tuple(x.shape))
                       for x, cols in zip(in_leaves, columns)]
                per_output.append(tree_unflatten(jac, in_spec))
            result = tree_unflatten(per_output, out_spec)
        result = tr.finish(result)
        return (result, tr.finish(aux)) if has_aux else result
    return wrapper


def _call_with(func: Callable, args: tuple, kwargs: dict, nums: tuple, argnums, diff: Any,
               has_aux: bool) -> tuple[Any, Any]:
    """``func`` called with the differentiated arguments replaced by ``diff``: its output
    and aux (``None`` without ``has_aux``)."""
    args = list(args)
    for i, n in enumerate(nums):
        args[n] = diff if isinstance(argnums, int) else diff[i]
    return _split_aux(func(*args, **kwargs), has_aux, "jacfwd")


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Hessian of a scalar ``func`` w.r.t. ``argnums``. torch's is
    ``jacfwd(jacrev(func))``; here the outer Jacobian is taken by reverse mode as well (one
    backward of the recorded gradient per row): ember's forward mode runs the function
    again for each column, about three times slower for a Hessian."""
    return _jacobian(jacrev(func, argnums), argnums, False, "jacfwd")
