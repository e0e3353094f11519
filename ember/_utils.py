"""``torch._utils``: the functions torch's checkpoints call to rebuild tensors and
parameters (``torch._utils._rebuild_tensor_v2`` ...), at the path pickles name."""

from ._quantized_pickle import rebuild_qtensor as _rebuild_qtensor
from .serialization import (
    _rebuild_parameter,
    _rebuild_parameter_with_state,
    _rebuild_tensor,
    _rebuild_tensor_v2,
    _rebuild_tensor_v3,
)

__all__ = ["_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_tensor",
           "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_qtensor"]
