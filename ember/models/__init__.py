"""Reference models built from ember.nn: a BERT-style encoder and a sentence encoder.

``import ember`` does not import this package; optional dependencies (``tokenizers``,
``safetensors``, the weights package) are imported only when weights are loaded.
"""

from .bert import BertConfig, BertModel, SentenceEncoder, minilm_path
