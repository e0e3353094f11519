"""Serving decoder models: an OpenAI-compatible HTTP server over a continuous-batching engine.

``python -m ember.serve PATH`` serves the Hugging Face-format model directory ``PATH`` on
127.0.0.1 (``--help`` for the options). One module per concern:

- ``engine``: continuous batching over a paged KV cache (vLLM-shaped, synchronous);
- ``detokenize``: the engine's tokenizer and incremental detokenization with stop strings;
- ``structured``: JSON-schema-constrained decoding as a logits processor;
- ``tools``: OpenAI-style tool calling on top of it;
- ``chat``: chat templates (``tokenizer_config.json``'s Jinja ``chat_template``);
- ``protocol``: the OpenAI request and response models;
- ``server``: the FastAPI app (``create_app``) and the thread that drives the engine.

Nothing is imported here, so ``import ember.serve.engine`` needs neither FastAPI nor jinja2.
"""
