"""``ember.quantization``: the same module as ``ember.ao.quantization`` (torch's legacy
``torch.quantization`` address)."""

from __future__ import annotations

import sys

from ..ao import quantization as _quantization

sys.modules[__name__] = _quantization
