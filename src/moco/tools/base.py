"""``@tool``: a Python function becomes a tool whose schema comes from its type hints and
docstring; arguments are validated by pydantic before the call.

A tool function may take a :class:`ToolContext` as its first parameter (by annotation); it is
passed by the runtime and never shown to the model. Every other parameter must be described
in the docstring's ``Args:`` section — undocumented parameters are refused at registration,
because a model cannot use what it is not told about.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from moco.errors import ToolError
from moco.tools.context import ToolContext

TOOL_MARK = "__moco_tool__"


class ToolDefinitionError(TypeError):
    """A function cannot become a tool (e.g. an undocumented parameter)."""


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    arguments_model: type[BaseModel]
    takes_context: bool = False
    aliases: tuple[str, ...] = ()
    is_async: bool = False
    #: whether the tool changes files or runs things (used by permissions and --read-only)
    mutates: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    async def invoke(self, context: ToolContext, arguments: Mapping[str, Any]) -> str:
        """Validate ``arguments`` and run the tool; returns its result as text.

        Raises :class:`ToolError` for invalid arguments; the tool's own exceptions propagate.
        """
        try:
            validated = self.arguments_model.model_validate(dict(arguments))
        except ValidationError as error:
            raise ToolError(_describe_validation_error(self.name, error)) from None
        kwargs = {name: getattr(validated, name) for name in self.arguments_model.model_fields}
        args: tuple[Any, ...] = (context,) if self.takes_context else ()
        if self.is_async:
            result = await self.function(*args, **kwargs)
        else:
            result = await asyncio.to_thread(self.function, *args, **kwargs)
        return result_to_text(result)

    def schema(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters}


F = TypeVar("F", bound=Callable[..., Any])


@overload
def tool(function: F) -> F: ...


@overload
def tool(
    function: None = None,
    *,
    name: str | None = None,
    aliases: Iterable[str] = (),
    mutates: bool = False,
    description: str | None = None,
) -> Callable[[F], F]: ...


def tool(
    function: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    aliases: Iterable[str] = (),
    mutates: bool = False,
    description: str | None = None,
) -> Any:
    """Mark a function as a tool. Usable bare (``@tool``) or with options
    (``@tool(name="read", aliases=["cat"], mutates=True)``)."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        built = build_tool(
            fn, name=name, aliases=tuple(aliases), mutates=mutates, description=description
        )
        setattr(fn, TOOL_MARK, built)
        return fn

    return mark(function) if function is not None else mark


def get_tool(obj: Any) -> Tool | None:
    """The :class:`Tool` built for a function marked with ``@tool``, if any."""
    found = getattr(obj, TOOL_MARK, None)
    return found if isinstance(found, Tool) else None


def build_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    aliases: tuple[str, ...] = (),
    mutates: bool = False,
    description: str | None = None,
) -> Tool:
    tool_name = name or fn.__name__
    summary, arg_docs = parse_docstring(inspect.getdoc(fn) or "")
    try:
        hints = get_type_hints(fn)
    except (NameError, TypeError) as error:
        raise ToolDefinitionError(f"tool {tool_name}: cannot read type hints: {error}") from None
    fields: dict[str, Any] = {}
    takes_context = False
    for index, param in enumerate(inspect.signature(fn).parameters.values()):
        annotation = hints.get(param.name, Any)
        if index == 0 and annotation is ToolContext:
            takes_context = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {tool_name}: *args/**kwargs are not supported")
        doc = arg_docs.get(param.name)
        if not doc:
            raise ToolDefinitionError(
                f"tool {tool_name}: parameter '{param.name}' is not described in the "
                "docstring's Args: section"
            )
        default = ... if param.default is inspect.Parameter.empty else param.default
        from pydantic import Field

        fields[param.name] = (annotation, Field(default=default, description=doc))
    model = create_model(  # type: ignore[call-overload]
        f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return Tool(
        name=tool_name,
        description=description or summary or tool_name,
        parameters=_inline_refs(_clean_schema(model.model_json_schema())),
        function=fn,
        arguments_model=model,
        takes_context=takes_context,
        aliases=aliases,
        is_async=inspect.iscoroutinefunction(fn),
        mutates=mutates,
    )


_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$")
_SECTION_HEADER = re.compile(r"^\s*(Returns|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument descriptions."""
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    for line in doc.splitlines():
        if _ARGS_HEADER.match(line):
            section, current = "args", None
            continue
        if _SECTION_HEADER.match(line):
            section, current = "other", None
            continue
        if section == "summary":
            summary_lines.append(line)
        elif section == "args":
            match = _ARG_LINE.match(line)
            if match and (len(line) - len(line.lstrip())) <= _indent_of_args(doc):
                current = match.group(1).lstrip("*")
                args[current] = match.group(3).strip()
            elif current and line.strip():
                args[current] = f"{args[current]} {line.strip()}".strip()
    summary = "\n".join(summary_lines).strip()
    return summary, args


def _indent_of_args(doc: str) -> int:
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if _ARGS_HEADER.match(line):
            for following in lines[i + 1 :]:
                if following.strip():
                    return len(following) - len(following.lstrip())
    return 0


def _clean_schema(schema: Any) -> Any:
    """Make the schema lean: drop pydantic's titles, ``default: null`` and the ``null`` branch
    of optional parameters. They cost tokens and tell the model nothing."""
    if isinstance(schema, list):
        return [_clean_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "additionalProperties" and value is False:
            continue  # pydantic refuses extra arguments anyway
        cleaned[key] = value if key == "properties" and not value else _clean_schema(value)
    if "properties" in schema:
        cleaned["properties"] = {
            name: _clean_schema(prop) for name, prop in schema["properties"].items()
        }
    options = cleaned.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        kept = next(option for option in options if option != {"type": "null"})
        del cleaned["anyOf"]
        cleaned = {**kept, **cleaned}
    return cleaned


def _inline_refs(schema: Any, definitions: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """Replace ``$ref`` by the referenced schema: some providers (Gemini) refuse ``$defs``.
    Recursive models keep their ``$defs`` beyond a nesting depth."""
    if definitions is None:
        definitions = schema.get("$defs", {}) if isinstance(schema, dict) else {}
        if not definitions:
            return schema
    if depth > 12:
        return schema
    if isinstance(schema, list):
        return [_inline_refs(item, definitions, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        target = definitions.get(schema["$ref"].rsplit("/", 1)[-1])
        if target is None:
            return schema
        extra = {key: value for key, value in schema.items() if key != "$ref"}
        return {**_inline_refs(target, definitions, depth + 1), **extra}
    return {
        key: _inline_refs(value, definitions, depth + 1)
        for key, value in schema.items()
        if key != "$defs" or depth > 0
    }


def _describe_validation_error(tool_name: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "arguments"
        problems.append(f"{where}: {item['msg']}")
    return f"invalid arguments for {tool_name}: " + "; ".join(problems)


def result_to_text(result: Any) -> str:
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)


class ToolRegistry:
    """Tools by name, with aliases. Later registrations of the same name replace earlier ones."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._aliases: dict[str, str] = {}
        for item in tools:
            self.register(item)

    def register(self, item: Tool | Callable[..., Any]) -> Tool:
        built = item if isinstance(item, Tool) else get_tool(item)
        if built is None:
            raise ToolDefinitionError(f"{item!r} is not marked with @tool")
        self._tools[built.name] = built
        for alias in built.aliases:
            self._aliases[alias] = built.name
        return built

    def get(self, name: str) -> Tool | None:
        found = self._tools.get(name)
        if found is None and name in self._aliases:
            found = self._tools.get(self._aliases[name])
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Any:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def canonical(self, name: str) -> str | None:
        found = self.get(name)
        return found.name if found else None

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        picked = [t for n in names if (t := self.get(n)) is not None]
        return ToolRegistry(picked)
