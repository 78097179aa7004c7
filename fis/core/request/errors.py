"""ONE translation of pydantic's ``ValidationError`` into :class:`~fis.errors.InvalidInput`.

A validator that raised a fis error (the value parsers: geometry, CRS, time range, indices,
statistics, aggregation) is re-raised as it was. Pydantic's own errors (types, ranges, unknown or
missing keys) become a message naming the dotted key, what was wrong with the offending value and
what to send; ``Hint`` annotations on the model's fields say what to send.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from fis.core.request.checks import describe
from fis.errors import FisError, InvalidInput


@dataclass(frozen=True)
class Hint:
    """Annotation metadata: what to send for a field, used in its error messages."""

    what: str


def _hints(annotation: Any) -> list[Hint]:
    out = [m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Hint)]
    for arg in typing.get_args(annotation):
        out.extend(_hints(arg))
    return out


def _submodels(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _submodels(arg)]


def _field(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel], str | None, str]:
    """The model holding the last field of ``loc``, that field's name, and its hint ("" if none)."""
    current: type[BaseModel] = model
    name: str | None = None
    hint = ""
    for part in loc:
        info = current.model_fields.get(str(part))
        if info is None:
            continue  # a union branch tag or a list index
        name = str(part)
        hints = _hints(info.annotation) + [m for m in info.metadata if isinstance(m, Hint)]
        hint = hints[0].what if hints else ""
        subs = _submodels(info.annotation)
        if subs and part != loc[-1]:
            current = subs[0]
    return current, name, hint


def _key(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if isinstance(p, str) and not p.startswith(("function-", "json-or-python")))


def translate(error: ValidationError, model: type[BaseModel], *, what: str = "request body") -> FisError:
    """The one fis error for ``error`` (raised when validating ``model``): unknown keys first, then missing ones,
    then the first other problem in field order."""
    details = error.errors()
    unknown = [d for d in details if d["type"] == "extra_forbidden"]
    if unknown:
        return _unknown(unknown, model)
    order = {"missing": 0}
    first = min(details, key=lambda d: order.get(d["type"], 1))
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, FisError):
        return cause
    return _message(first, model, what)


def _unknown(items: list[ErrorDetails], model: type[BaseModel]) -> InvalidInput:
    parent = tuple(items[0]["loc"][:-1])
    holder, _, _ = _field(model, (*parent, "")) if parent else (model, None, "")
    accepted = list(holder.model_fields)
    names = sorted(str(d["loc"][-1]) for d in items if tuple(d["loc"][:-1]) == parent)
    hints = []
    for name in names:
        close = difflib.get_close_matches(name, accepted, n=1)
        if close:
            hints.append(f"{name!r} -> did you mean {close[0]!r}?")
    hint = f" ({'; '.join(hints)})" if hints else ""
    prefix = f"{_key(parent)}: " if parent else ""
    field = ".".join([_key(parent), names[0]]) if parent else names[0]
    return InvalidInput(
        f"{prefix}unknown key(s) {', '.join(repr(k) for k in names)}{hint}; accepted keys are {', '.join(accepted)}",
        field=field,
        details={"unknown": names, "accepted": accepted},
    )


def _message(item: ErrorDetails, model: type[BaseModel], what: str) -> InvalidInput:
    loc = tuple(item["loc"])
    value = item.get("input")
    kind = item["type"]
    if not loc:
        if kind == "model_type" or kind == "dict_type":
            required = [n for n, f in model.model_fields.items() if f.is_required()]
            optional = [n for n, f in model.model_fields.items() if not f.is_required()]
            return InvalidInput(
                f"{what}: must be a JSON object with keys {', '.join(required)} (required) and "
                f"optional {', '.join(optional)}; got {describe(value)}",
                field=None,
            )
        return InvalidInput(f"{what}: {item['msg']}", field=None)
    _, _, hint = _field(model, loc)
    key = _key(loc)
    use = f" ({hint})" if hint else ""
    ctx = item.get("ctx", {})
    if kind == "missing" or (kind in ("none_required", "model_type") and value is None):
        return InvalidInput(f"{key}: is required but missing (or null)", field=key)
    if kind in ("number_type", "float_type", "int_type", "float_parsing", "int_parsing"):
        return InvalidInput(f"{key}: must be a number{use}, got {describe(value)}", field=key)
    if kind == "finite_number":
        return InvalidInput(f"{key}: must be a finite number{use}, got {value!r}", field=key)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return InvalidInput(f"{key}: {value!r} is out of range; use {hint or item['msg'].lower()}", field=key)
    if kind == "int_from_float":
        return InvalidInput(f"{key}: must be an integer{use}, got {value!r}", field=key)
    if kind == "bool_type":
        return InvalidInput(f"{key}: must be a boolean (JSON true or false), got {describe(value)}", field=key)
    if kind == "literal_error":
        return InvalidInput(
            f"{key}: {describe(value)} is not accepted; use one of {ctx.get('expected')}", field=key,
        )
    if kind in ("string_type", "dict_type", "model_type", "list_type"):
        expected = {"string_type": "a string", "dict_type": "an object", "model_type": "an object",
                    "list_type": "a list"}[kind]
        return InvalidInput(f"{key}: must be {expected}{use}, got {describe(value)}", field=key)
    if kind == "string_too_long":
        return InvalidInput(
            f"{key}: is {len(value)} characters long; use at most {ctx.get('max_length')} characters", field=key
        )
    if kind == "string_pattern_mismatch":
        return InvalidInput(f"{key}: {value!r} is not accepted; use {hint or ctx.get('pattern')}", field=key)
    return InvalidInput(f"{key}: {item['msg']} (got {describe(value)}){'; use ' + hint if hint else ''}", field=key)
