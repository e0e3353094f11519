"""``ember.func`` (``torch.func``): function transforms over ember's autograd.

``grad``, ``grad_and_value``, ``vjp``, ``linearize``, ``jacrev`` differentiate with the
tape (``hessian`` reverse over reverse), ``jvp`` and ``jacfwd`` with forward-mode AD;
``vmap`` loops over the mapped dimension; ``functional_call`` and
``stack_module_state`` turn a module into a function of its state (model ensembling,
per-sample gradients); ``replace_all_batch_norm_modules_`` drops batch norms' running
statistics.
"""

from ._eager_transforms import (functionalize, grad, grad_and_value, hessian, jacfwd, jacrev, jvp,
                                linearize, vjp)
from ._batch_norm import replace_all_batch_norm_modules_
from ._functional_call import functional_call, stack_module_state
from ._vmap import vmap

__all__ = ["functional_call", "stack_module_state", "grad", "grad_and_value", "vjp", "jvp",
           "linearize", "functionalize", "jacrev", "jacfwd", "hessian", "vmap",
           "replace_all_batch_norm_modules_"]
