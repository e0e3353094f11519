"""nn utilities: gradient clipping, parameter vectors, rnn packing."""

from . import clip_grad, convert_parameters
from .clip_grad import clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_, get_total_norm
from .convert_parameters import parameters_to_vector, vector_to_parameters
from . import rnn
from . import parametrizations, parametrize, prune
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm
