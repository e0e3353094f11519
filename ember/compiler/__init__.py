"""ember's compiler: capture a program through the dispatcher into a graph, optimize it,
generate Python + Numba code, and run it under guards (``ember.compile``).

- ``graph``: the IR (``Graph``, ``Node``, ``Value``) that the passes, code generation,
  ``jit``/``export`` and the ONNX exporter share;
- ``capture``: the recording dispatch mode, graph breaks, backward capture;
- ``passes``: DCE, CSE, constant folding; ``fusion``: pointwise fusion into Numba kernels;
  ``attention``: written-out attention onto ember's fused attention kernels; ``concat``:
  a concatenation of reshaped arrays written into its result;
- ``codegen``: a graph as one Python function over arrays (``inline``: views and a few hot
  ops as NumPy expressions in it);
- ``frontend``: guards, the program cache, compiled training; ``module``: OptimizedModule.
"""

from .capture import GraphBreak, capture
from .frontend import CompiledFunction, ExplainOutput, compile, config, explain, reset
from .graph import Graph, Node, Value

compile.explain = explain  # ``ember.compile.explain(fn, *args)``
compile.reset = reset

__all__ = ["compile", "explain", "reset", "config", "capture", "GraphBreak", "Graph", "Node",
           "Value", "CompiledFunction", "ExplainOutput"]
