"""Base classes for API schemas: inputs reject unknown fields and NUL, outputs read ORM objects.

PostgreSQL cannot store NUL (U+0000) in text or JSONB, so a NUL that reached a query would fail
it (a 500). Every input refuses it at the edge instead, with a 422 naming where it is:
- anywhere in the data of an `Input` model, whatever the field's type (a list item, a dict key,
  a nested model's field): one check on the base class, before any field is validated, so a
  new field cannot forget it (and no field validator ever sees a NUL);
- every other text input (query, path and form parameters) is typed `Text`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

NUL_ERROR = "nul_character"
"""The validation error's type for a value that carries NUL."""


def has_nul(value: object) -> bool:
    """Whether NUL is in a string anywhere inside `value` (strings, lists, dict keys and
    values, however deep; walked without recursion, so nesting depth cannot exhaust the stack)."""
    waiting = [value]
    while waiting:
        item = waiting.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            waiting.extend(item.keys())
            waiting.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            waiting.extend(item)
    return False


def nul_locations(value: object) -> list[tuple[str | int, ...]]:
    """Where NUL is inside `value`: the path to each string (or dict key) that carries it.
    Linear in the size of `value` however deep it is (each step points to its parent)."""
    steps: list[tuple[int, str | int]] = []  # (parent's step or -1 for the top, key or index)
    found: list[int] = []
    waiting: list[tuple[int, object]] = [(-1, value)]
    while waiting:
        step, item = waiting.pop()
        if isinstance(item, str):
            if "\x00" in item:
                found.append(step)
        elif isinstance(item, dict | list | tuple | set | frozenset):
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, inner in pairs:
                steps.append((step, key if isinstance(key, str | int) else str(key)))
                if isinstance(key, str) and "\x00" in key:
                    found.append(len(steps) - 1)
                waiting.append((len(steps) - 1, inner))
    locations = []
    for step in found:
        path: list[str | int] = []
        while step != -1:
            step, key = steps[step]
            path.append(key)
        locations.append(tuple(reversed(path)))
    return sorted(set(locations), key=str)


def _nul_error() -> PydanticCustomError:
    return PydanticCustomError(NUL_ERROR, "must not contain the NUL character (U+0000)")


def refuse_nul(value: Any) -> Any:
    """The value unchanged, or a validation error if it carries NUL."""
    if has_nul(value):
        raise _nul_error()
    return value


Text = Annotated[str, BeforeValidator(refuse_nul)]
"""A text parameter outside an `Input` model (query, path, form): NUL refused with a 422."""


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        if isinstance(data, dict) and _carries_nul(data):
            raise ValidationError.from_exception_data(cls.__name__, [
                InitErrorDetails(type=_nul_error(), loc=location, input=data)
                for location in nul_locations(data)])
        return data


def _carries_nul(data: dict[Any, Any]) -> bool:
    """has_nul() for a model's data, checked once per model rather than once per field (a bulk
    import validates a model per row): plain strings, the usual case, need no walk."""
    for key, value in data.items():
        if value.__class__ is str:
            if "\x00" in value:
                return True
        elif has_nul(value):
            return True
        if key.__class__ is str and "\x00" in key:
            return True
    return False


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)
