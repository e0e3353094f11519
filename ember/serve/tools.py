"""OpenAI-style tool calling on top of constrained decoding, in the Hermes/Qwen convention.

The tools are described to the model in the system message (``tools_prompt``); the model
answers a call as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. With
``tool_choice="required"`` or a forced function the server constrains the output to
``tool_call_schema`` (the bare JSON object: a name among the allowed tools and arguments
valid for that tool's ``parameters``), so the call always parses and validates; with
``"auto"`` the model is free and ``parse_tool_calls`` extracts whatever calls it wrote.
Request fields are checked here and errors raise ``ValueError`` naming the field, which the
server turns into a 400.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .structured import json_schema_grammar

__all__ = ["validate_tools", "validate_tool_choice", "tools_prompt", "tool_call_schema",
           "parse_tool_calls", "split_tool_calls", "render_tool_calls"]

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CALL_BLOCK = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_EMPTY_PARAMETERS: dict[str, Any] = {"type": "object", "properties": {}}


def validate_tools(tools: Any) -> list[dict]:
    """Check an OpenAI ``tools`` list; return its function specs (name, description,
    parameters, the latter defaulting to an empty-object schema)."""
    if not isinstance(tools, list) or not tools:
        raise ValueError("tools must be a non-empty list")
    functions: list[dict] = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise ValueError(f"{where}.type must be 'function'")
        fn = tool.get("function")
        if not isinstance(fn, dict):
            raise ValueError(f"{where}.function must be an object")
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"{where}.function.name must be 1-64 letters, digits, '_' or '-'")
        if any(f["name"] == name for f in functions):
            raise ValueError(f"{where}.function.name {name!r} is used by an earlier tool")
        description = fn.get("description", "")
        if not isinstance(description, str):
            raise ValueError(f"{where}.function.description must be a string")
        parameters = fn.get("parameters", _EMPTY_PARAMETERS)
        field = f"{where}.function.parameters"
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            raise ValueError(f"{field} must be a JSON schema of type 'object'")
        json_schema_grammar(parameters, field)
        functions.append({"name": name, "description": description, "parameters": parameters})
    return functions


def validate_tool_choice(tool_choice: Any, tools: Any) -> str | None:
    """Check ``tool_choice`` against ``tools``. Returns ``None`` when no call may be made
    (no tools, or ``"none"``), ``"auto"``, ``"required"``, or the forced function's name.
    Absent means ``"auto"`` when there are tools, as in OpenAI's API."""
    if not tools:
        if tool_choice not in (None, "none"):
            raise ValueError("tool_choice needs a non-empty tools list")
        return None
    return _resolve_choice(tool_choice, [f["name"] for f in validate_tools(tools)])


def _resolve_choice(tool_choice: Any, names: list[str]) -> str | None:
    """``validate_tool_choice`` for the (valid, non-empty) tool ``names``."""
    if tool_choice is None or tool_choice == "auto":
        return "auto"
    if tool_choice == "none":
        return None
    if tool_choice == "required":
        return "required"
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if name not in names:
            raise ValueError(f"tool_choice.function.name {json.dumps(name)} is not one of "
                             f"the tools ({', '.join(names)})")
        return name
    raise ValueError("tool_choice must be 'none', 'auto', 'required' or "
                     '{"type": "function", "function": {"name": ...}}')


def tools_prompt(tools: Any) -> str:
    """System-message text describing ``tools`` and the ``<tool_call>`` answer format (the
    Hermes/Qwen 2.5 wording, which models trained on that convention follow)."""
    functions = validate_tools(tools)
    lines = "\n".join(json.dumps({"type": "function", "function": f}, ensure_ascii=False)
                      for f in functions)
    return ("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n"
            f"<tools>\n{lines}\n</tools>\n\n"
            "For each function call, return a json object with function name and arguments "
            "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')


def tool_call_schema(tools: Any, tool_choice: Any = "required") -> dict | None:
    """The JSON schema one call must satisfy: ``{"name": <tool>, "arguments": <its
    parameters>}`` as an ``anyOf`` over the allowed tools (all for ``"required"``, the
    forced one for a named choice). ``None`` for ``"auto"`` and ``"none"``: the output is
    not constrained then (the model may answer in text)."""
    functions = validate_tools(tools)
    choice = _resolve_choice(tool_choice, [f["name"] for f in functions])
    if choice in (None, "auto"):
        return None
    functions = [f for f in functions if choice in ("required", f["name"])]
    return {"anyOf": [{"type": "object",
                       "properties": {"name": {"const": f["name"]},
                                      "arguments": f["parameters"]},
                       "required": ["name", "arguments"],
                       "additionalProperties": False} for f in functions]}


def split_tool_calls(text: str) -> tuple[str | None, list[dict]]:
    """Split model output into its text content and OpenAI ``tool_calls`` entries.

    Calls are ``<tool_call>{...}</tool_call>`` blocks (the last may be unterminated), or,
    without blocks, the whole text when it is one call object or a list of them (what
    constrained decoding produces). A call object has ``name`` and ``arguments`` (an
    object, or a string holding one; ``parameters`` is accepted too). Blocks that are not
    such objects are left in the content: this parses model output, it does not reject it.
    Content is ``None`` when nothing but calls was written.
    """
    calls: list[dict] = []
    kept: list[str] = []
    pos = 0
    for block in _CALL_BLOCK.finditer(text):
        found = _calls_in(block.group(1))
        if found:
            kept.append(text[pos:block.start()])
            pos = block.end()
            calls += found
    if not calls:
        calls = _calls_in(text)
        if calls:
            return None, calls
    content = ("".join(kept) + text[pos:]).strip() if calls else text
    return content or None, calls


def parse_tool_calls(text: str) -> list[dict]:
    """The OpenAI ``tool_calls`` entries in model output (see ``split_tool_calls``):
    ``{"id": "call_...", "type": "function", "function": {"name", "arguments": <JSON
    string>}}``."""
    return split_tool_calls(text)[1]


def render_tool_calls(tool_calls: list[dict]) -> str:
    """An assistant message's ``tool_calls`` back as ``<tool_call>`` text, for putting a
    conversation's earlier calls into the prompt."""
    blocks = []
    for call in tool_calls:
        fn = call["function"]
        args = fn.get("arguments") or "{}"
        obj = {"name": fn["name"], "arguments": json.loads(args) if isinstance(args, str)
               else args}
        blocks.append(f"<tool_call>\n{json.dumps(obj, ensure_ascii=False)}\n</tool_call>")
    return "\n".join(blocks)


def _calls_in(text: str) -> list[dict]:
    """The call entries of a JSON call object or list of them; [] if ``text`` is not one."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return []
    items = obj if isinstance(obj, list) else [obj]
    calls = [_entry(item) for item in items]
    return [] if not calls or None in calls else calls


def _entry(item: Any) -> dict | None:
    """One OpenAI tool-call entry for a ``{"name", "arguments"}`` object, else ``None``."""
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return None
    args = item.get("arguments", item.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": item["name"],
                         "arguments": json.dumps(args, ensure_ascii=False)}}
