"""``ember.distributions``: probability distributions after ``torch.distributions``.

Implemented so far: ``Normal``, ``Uniform``, ``Exponential``, ``Laplace``, ``Bernoulli``,
``Categorical``, ``OneHotCategorical``, ``Independent``, with
``kl_divergence``/``register_kl`` for the same-type pairs and the ``constraints`` module.
"""
from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical
from .distribution import Distribution
from .exponential import Exponential
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Distribution", "Exponential", "Independent", "Laplace",
           "Normal", "OneHotCategorical", "Uniform", "constraints", "kl_divergence", "register_kl"]
