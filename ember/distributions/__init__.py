"""``ember.distributions``: probability distributions after ``torch.distributions``.

Implemented so far: ``Normal``, ``Uniform``, ``Exponential``, ``Laplace``, ``Bernoulli``,
``Categorical``, ``OneHotCategorical``, ``Independent``, ``MultivariateNormal``, ``Gamma``,
``Beta``, ``Dirichlet``, ``Poisson``, ``Binomial``, ``TransformedDistribution`` (with the
``transforms`` module) and ``LogNormal``, with
``kl_divergence``/``register_kl`` for the same-type pairs and the ``constraints`` module.
"""
from . import constraints, transforms
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
from .log_normal import LogNormal
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .poisson import Poisson
from .transformed_distribution import TransformedDistribution
from .uniform import Uniform

__all__ = ["Bernoulli", "Beta", "Binomial", "Categorical", "Dirichlet", "Distribution",
           "Exponential", "Gamma", "Independent", "Laplace", "LogNormal", "MultivariateNormal",
           "Normal", "OneHotCategorical", "Poisson", "TransformedDistribution", "Uniform",
           "constraints", "kl_divergence", "register_kl", "transforms"]
