"""Runnable examples: complete programs built on ember alone (``python -m ember.examples.NAME``).

- ``train_gpt``: train a byte-level BPE tokenizer and a small Llama on the Python standard
  library, with exact resume, and write a Hugging Face-format directory ``ember.serve`` serves.
"""
