"""Every input refuses the NUL character, which PostgreSQL cannot store in text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

import skinstack.app  # noqa: F401 - imports every router, so every Input subclass exists
from skinstack.kit.schemas import NUL_ERROR, Input, Text, has_nul, nul_locations


def _input_models() -> list[type[Input]]:
    found, waiting = [], [Input]
    while waiting:
        for model in waiting.pop().__subclasses__():
            found.append(model)
            waiting.append(model)
    return found


def test_there_are_input_models_to_check() -> None:
    names = {model.__name__ for model in _input_models()}
    assert {"RegisterIn", "InfluencerIn", "ProgramIn", "ProductIn", "CampaignIn",
            "LinkIn"} <= names


@pytest.mark.parametrize("model", _input_models(), ids=lambda model: model.__name__)
def test_every_field_of_every_input_refuses_nul(model: type[Input]) -> None:
    """Whatever the field's type, a value carrying NUL is refused where the NUL is, before any
    field's own checks (so no validator, and no query, ever sees it)."""
    for name in model.model_fields:
        for value, inner in (("a\x00b", ()), (["fine", "\x00"], (1,)),
                             ({"key": "\x00"}, ("key",)), ({"\x00": 1}, ("\x00",))):
            with pytest.raises(ValidationError) as caught:
                model.model_validate({name: value})
            errors = caught.value.errors()
            assert [(error["type"], error["loc"]) for error in errors] == [
                (NUL_ERROR, (name, *inner))]


def test_nested_inputs_name_the_place() -> None:
    from skinstack.catalog.schemas import ProgramIn

    with pytest.raises(ValidationError) as caught:
        ProgramIn.model_validate({
            "name": "Glow\x00", "network": "impact", "commission_type": "percentage",
            "commission_percent": "10",
            "tiers": [{"min_monthly_sales": "100", "commission_percent": "1\x00"}]})
    assert sorted((error["type"], error["loc"]) for error in caught.value.errors()) == [
        (NUL_ERROR, ("name",)), (NUL_ERROR, ("tiers", 0, "commission_percent"))]


texts = st.text(alphabet="ab\x00", max_size=5)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20)


def _nul_in(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_in(key) or _nul_in(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_nul_in(item) for item in value)
    return False


@given(json_values)
def test_has_nul_finds_nul_anywhere_in_a_json_value(value: object) -> None:
    assert has_nul(value) == _nul_in(value) == bool(nul_locations(value))
    for location in nul_locations(value):
        inner = value
        for step in location[:-1]:
            inner = inner[step]
        last = location[-1] if location else None
        assert (_nul_in(inner[last]) or "\x00" in str(last)) if location else _nul_in(inner)


def test_has_nul_walks_deep_values_without_recursing() -> None:
    deep: object = "\x00"
    for _ in range(100_000):
        deep = [deep]
    assert has_nul(deep)
    assert nul_locations(deep) == [(0,) * 100_000]


@given(st.text())
def test_the_text_type_refuses_exactly_the_strings_with_nul(value: str) -> None:
    adapter = TypeAdapter(Text)
    if "\x00" in value:
        with pytest.raises(ValidationError):
            adapter.validate_python(value)
    else:
        assert adapter.validate_python(value) == value


def test_a_model_of_text_fields_says_why() -> None:
    class Form(BaseModel):
        username: Text

    with pytest.raises(ValidationError) as caught:
        Form(username="me\x00@example.com")
    assert "NUL" in caught.value.errors()[0]["msg"]
