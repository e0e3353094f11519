"""Chat templates: the Jinja ``chat_template`` of a model's ``tokenizer_config.json`` rendered
as ``transformers``' ``apply_chat_template`` renders it.

The environment is the one ``transformers`` builds (a sandbox, ``trim_blocks`` and
``lstrip_blocks``, loop controls, a ``tojson`` that keeps non-ASCII text, ``raise_exception``,
``strftime_now``), the template sees ``messages``, ``tools``, ``add_generation_prompt`` and
the special tokens (``bos_token``, ``eos_token``, ...), and keys whose value is None are
dropped from messages first, so the same text comes out for the same conversation.

Many small models' templates know nothing of tools (ChatML only prints role and content).
``prepare_messages`` then puts what the model needs into plain messages: the tools'
description into the system message and an assistant's earlier tool calls into its content,
in the format the model is asked to answer in; tool results are ordinary ``tool`` messages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["CHATML_TEMPLATE", "ChatTemplate", "load_chat_template", "prepare_messages"]

# ChatML (transformers' former default template) for models whose tokenizer has none
from ..models._hf import CHATML_TEMPLATE  # noqa: E402

_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                   "mask_token")


def _raise_exception(message: str):
    from jinja2.exceptions import TemplateError

    raise TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    # Jinja's own tojson escapes HTML characters; chat templates want plain JSON
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


def _token_text(value: Any) -> str | None:
    """A special token as ``tokenizer_config.json`` writes it: a string or ``{"content": ...}``."""
    return value.get("content") if isinstance(value, dict) else value


class ChatTemplate:
    """A compiled chat template and the special tokens it may print."""

    def __init__(self, source: str, special_tokens: dict[str, str] | None = None) -> None:
        import jinja2.ext
        from jinja2 import meta
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[jinja2.ext.loopcontrols])
        env.filters["tojson"] = _tojson
        env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
        self.source = source
        self.special_tokens = {k: v for k, v in (special_tokens or {}).items() if v is not None}
        self._template = env.from_string(source)
        variables = meta.find_undeclared_variables(env.parse(source))
        #: whether the template prints ``tools`` / assistants' ``tool_calls`` itself
        self.handles_tools = "tools" in variables
        self.handles_tool_calls = "tool_calls" in source

    def render(self, messages: list[dict], *, tools: list[dict] | None = None,
               add_generation_prompt: bool = True, **kwargs: Any) -> str:
        """The prompt text of ``messages`` (dicts with ``role``, ``content``, ...)."""
        messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
        return self._template.render(messages=messages, tools=tools, documents=None,
                                     add_generation_prompt=add_generation_prompt,
                                     **{**self.special_tokens, **kwargs})


def load_chat_template(path: str | os.PathLike,
                       source: str | None = None) -> ChatTemplate:
    """The chat template of the model directory ``path``: ``source`` if given, else
    ``chat_template.jinja`` or ``tokenizer_config.json``'s ``chat_template`` (the one named
    ``default`` of a list), else ChatML; special tokens from ``tokenizer_config.json``."""
    path = Path(path)
    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
    if source is None and (path / "chat_template.jinja").exists():
        source = (path / "chat_template.jinja").read_text(encoding="utf-8")
    if source is None:
        source = config.get("chat_template")
    if isinstance(source, list):
        source = next((t["template"] for t in source if t.get("name") == "default"), None)
    special = {name: _token_text(config.get(name)) for name in _SPECIAL_TOKENS}
    return ChatTemplate(source or CHATML_TEMPLATE, special)


def _text(content: str | list[dict] | None) -> str | None:
    """Message content as text: the text parts of a list joined."""
    if isinstance(content, list):
        return "".join(part["text"] for part in content)
    return content


def prepare_messages(messages: list[dict], template: ChatTemplate, *,
                     tools_text: str | None = None,
                     tool_calls_text: Callable[[list[dict]], str] | None = None) -> list[dict]:
    """OpenAI chat messages made ready for ``template``: text content, ``developer`` as
    ``system``; for a template that does not print tools, ``tools_text`` joins the system
    message (or opens the chat as one) and an assistant's ``tool_calls`` become content
    through ``tool_calls_text`` (OpenAI tool call dicts → text)."""
    out = []
    for message in messages:
        message = {**message, "content": _text(message.get("content"))}
        if message["role"] == "developer":
            message["role"] = "system"
        calls = message.get("tool_calls")
        if calls and not template.handles_tool_calls and tool_calls_text is not None:
            message["content"] = "\n".join(filter(None, [message["content"],
                                                         tool_calls_text(calls)]))
            del message["tool_calls"]
        out.append(message)
    if tools_text and not template.handles_tools:
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "content": f"{out[0]['content']}\n\n{tools_text}"}
        else:
            out.insert(0, {"role": "system", "content": tools_text})
    return out
