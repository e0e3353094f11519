"""``ember.explain``: model interpretability with Captum's ideas and API.

Gradient methods (``Saliency``, ``InputXGradient``, ``IntegratedGradients``), smoothing
around any of them (``NoiseTunnel``), perturbation (``Occlusion``) and layer methods
(``LayerGradCam``). Each is built around the model, ``method(model)``, and explains a batch
with ``method.attribute(inputs, target=...)``; attributions have the inputs' shapes.
Not imported by ``import ember``.
"""

from .gradient import Attribution, InputXGradient, IntegratedGradients, NoiseTunnel, Saliency
from .layer import GradCAM, LayerAttribution, LayerGradCam
from .perturbation import Occlusion

__all__ = ["Attribution", "Saliency", "InputXGradient", "IntegratedGradients", "NoiseTunnel",
           "Occlusion", "LayerAttribution", "LayerGradCam", "GradCAM"]
