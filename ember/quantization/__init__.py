"""``ember.quantization``: the same module as ``ember.ao.quantization`` (torch's legacy
``torch.quantization`` address), submodules included (``ember.quantization.observer``
is ``ember.ao.quantization.observer``)."""

from __future__ import annotations

import sys

from ..ao import quantization as _quantization

for _name, _module in list(sys.modules.items()):
    if _name.startswith(_quantization.__name__ + "."):
        sys.modules[__name__ + _name[len(_quantization.__name__):]] = _module
sys.modules[__name__] = _quantization
