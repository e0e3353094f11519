"""The user's entry points to the engine: ``autograd.backward``, ``autograd.grad`` and
``Tensor.backward``.

They live above the ops, not in ``graph.py`` (which the dispatcher imports): the gradient
they make up -- the implicit ``1`` of a scalar root, the zeros of ``materialize_grads`` --
is a dispatched op (``ones_like``/``zeros_like``, as torch's), so a dispatch mode sees
everything a backward computes. ``Tensor.backward`` is installed from here, so the tensor
module does not reach up to autograd.
"""

from __future__ import annotations

from .._tensor import Tensor, tensor_method
from ..ops.creation import ones_like, zeros_like
from .graph import gradient_edge, run_backward


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _roots(outputs: tuple, grad_outputs: tuple) -> list:
    """The engine's (node, output_nr, gradient) triples, checked as torch's ``_make_grads``
    checks them; a missing gradient of a one-element output is ``ones_like(output)``."""
    if len(grad_outputs) == 0:
        grad_outputs = (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad can be implicitly created only for scalar outputs; got "
                           f"{len(grad_outputs)} gradients for {len(outputs)} outputs")
    roots = []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(out).__name__}")
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               "a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = ones_like(out)
        elif not isinstance(g, Tensor):
            raise TypeError("gradients can be either Tensors or None, but got "
                            f"{type(g).__name__}")
        elif g._data.shape != out._data.shape:
            raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                               f"{_fmt(g._data.shape)} and output[{i}] has a shape of "
                               f"{_fmt(out._data.shape)}.")
        node, nr = gradient_edge(out)
        roots.append((node, nr, g))
    return roots


def _fmt(shape) -> str:
    return f"torch.Size({list(shape)})"


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, grad_variables=None, inputs=None) -> None:
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the graph's leaves (or of
    ``inputs`` only)."""
    tensors = _as_tuple(tensors)
    grads = _as_tuple(grad_tensors if grad_tensors is not None else grad_variables)
    if retain_graph is None:
        retain_graph = create_graph
    inputs = _as_tuple(inputs) or None
    if inputs is not None:
        for t in inputs:
            if not t._requires_grad:
                raise RuntimeError("One of the differentiated Tensors does not require grad")
    run_backward(_roots(tensors, grads), retain_graph, create_graph,
                 inputs=list(inputs) if inputs else None, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, only_inputs: bool = True, allow_unused: bool | None = None,
         is_grads_batched: bool = False, materialize_grads: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs`` (nothing is accumulated)."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if is_grads_batched:
        raise NotImplementedError("ember.autograd.grad: is_grads_batched is not supported")
    roots = _roots(outputs, _as_tuple(grad_outputs))  # torch checks these first
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(t).__name__}")
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(roots, retain_graph, create_graph, inputs=list(inputs),
                          accumulate=False, allow_unused=allow_unused)
    if materialize_grads:
        result = [r if r is not None else zeros_like(t) for r, t in zip(result, inputs)]
    return tuple(result)


@tensor_method("backward")
def _tensor_backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                     create_graph: bool = False, inputs=None) -> None:
    """``Tensor.backward``: accumulate the gradient of this tensor into the leaves'
    ``.grad``."""
    backward(self, gradient, retain_graph, create_graph, inputs=inputs)
