"""``python -m ember.serve PATH``: serve a Hugging Face-format model directory (Llama or GPT-2,
e.g. the output of ``python -m ember.examples.train_gpt``) with the OpenAI API.

The server listens on 127.0.0.1 unless ``--host`` says otherwise; with ``--api-key`` (or
``EMBER_API_KEY``) every ``/v1`` request must send ``Authorization: Bearer KEY``.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn


class Server(uvicorn.Server):
    """uvicorn's server that, at the first Ctrl-C or SIGTERM, also ends the requests in
    flight (streams get an error event and close), so that the shutdown does not wait out
    the graceful timeout for long generations."""

    def __init__(self, config: uvicorn.Config, engine_loop) -> None:
        super().__init__(config)
        self.engine_loop = engine_loop

    def handle_exit(self, sig, frame) -> None:
        self.engine_loop.begin_shutdown()
        super().handle_exit(sig, frame)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ember.serve",
        description="An OpenAI-compatible server (/v1/models, /v1/completions, "
                    "/v1/chat/completions, /metrics) for a local model directory.")
    parser.add_argument("path", help="model directory: config.json, model.safetensors, "
                                     "tokenizer.json, tokenizer_config.json")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", default=os.environ.get("EMBER_API_KEY"),
                        help="require this bearer token (default: $EMBER_API_KEY, else none)")
    parser.add_argument("--model-name", default=None,
                        help="the model id clients ask for (default: the directory's name)")
    parser.add_argument("--quantize", choices=["int8", "int4"], default=None,
                        help="weight-only quantization of the linear layers")
    parser.add_argument("--max-batch", type=int, default=8,
                        help="requests decoded together in one step")
    parser.add_argument("--max-queue", type=int, default=64,
                        help="requests allowed to wait; more are answered 429")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from .chat import load_chat_template
    from .engine import Engine
    from .server import create_app

    if not os.path.isfile(os.path.join(args.path, "config.json")):
        print(f"error: {args.path} has no config.json (not a model directory)", file=sys.stderr)
        return 2
    engine = Engine.from_pretrained(args.path, quantize=args.quantize,
                                    max_batch=args.max_batch, max_queue=args.max_queue)
    app = create_app(engine, api_key=args.api_key, model_name=args.model_name,
                     chat_template=load_chat_template(args.path))
    print(f"serving {app.state.server.model_name!r} on http://{args.host}:{args.port}/v1",
          file=sys.stderr)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=5)
    Server(config, app.state.server.engine_loop).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
