"""``ember.distributions``: probability distributions after ``torch.distributions``.

Implemented so far: ``Normal``, ``Uniform``, ``Exponential``, ``Laplace``, ``Bernoulli``,
``Categorical``, ``OneHotCategorical``, ``Independent``, ``MultivariateNormal``, ``Gamma``,
``Beta``, ``Dirichlet``, ``Poisson``, ``Binomial``, with
``kl_divergence``/``register_kl`` for the same-type pairs and the ``constraints`` module.
"""
from . import constraints
from .bernoulli import Bernoulli
from .beta import Beta
from .binomial import Binomial
from .categorical import Categorical
from .dirichlet import Dirichlet
from .distribution import Distribution
from .exponential import Exponential
from .gamma import Gamma
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .poisson import Poisson
from .uniform import Uniform

__all__ = ["Bernoulli", "Beta", "Binomial", "Categorical", "Dirichlet", "Distribution",
           "Exponential", "Gamma", "Independent", "Laplace", "MultivariateNormal", "Normal",
           "OneHotCategorical", "Poisson", "Uniform", "constraints", "kl_divergence",
           "register_kl"]
