"""NUL (U+0000) anywhere in the API's text inputs is a 422 naming the field, never a 500.

PostgreSQL refuses NUL in text, so a NUL that reached a query used to fail it. Rather than
hand-pick endpoints, this walks the OpenAPI document: every operation, every string
parameter, every field of every JSON or form body, as every kind of caller."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx

from tests.factories import influencer, merchant

NUL = "a\x00b"


def _is_string(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" or any(
        option.get("type") == "string" for option in schema.get("anyOf", []))


def _free_text(schema: dict[str, Any]) -> bool:
    """Only a string, without an enum, pattern or format: nothing but the NUL check can refuse
    "a\\0b"."""
    options = [option for option in schema.get("anyOf", [schema])
               if option.get("type") != "null"]
    return all(option.get("type") == "string" and not {"enum", "pattern", "format"} & set(option)
               for option in options)


def _body_schema(document: dict[str, Any], operation: dict[str, Any]
                 ) -> tuple[str, dict[str, Any]] | None:
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        reference = content.get("schema", {}).get("$ref")
        if reference and media_type in {"application/json",
                                        "application/x-www-form-urlencoded"}:
            return media_type, document["components"]["schemas"][reference.split("/")[-1]]
    return None


def _named(body: dict[str, Any], name: str, *, nul: bool) -> bool:
    return any(name in [str(part) for part in error["loc"]]
               and (not nul or "NUL" in error["message"]) for error in body.get("errors", []))


async def test_nul_in_any_text_input_is_422_naming_it(client: httpx.AsyncClient, admin) -> None:
    shop = await merchant(client)
    creator, _ = await influencer(client)
    callers = {"anonymous": {}, "admin": admin.headers, "merchant": shop.headers,
               "influencer": creator.headers}
    document = (await client.get("/openapi.json")).json()
    checked = []
    for template, operations in document["paths"].items():
        for method, operation in operations.items():
            path, query, expected = template, {}, []
            for parameter in operation.get("parameters", []):
                name, schema = parameter["name"], parameter["schema"]
                text = _is_string(schema) and schema.get("format") != "uuid"
                if parameter["in"] == "path":
                    value = NUL if text else str(uuid.uuid4())
                    path = path.replace("{" + name + "}", quote(value, safe=""))
                elif parameter["in"] == "query" and text:
                    query[name] = NUL
                if text and parameter["in"] in {"path", "query"}:
                    expected.append((name, _free_text(schema)))
            body = _body_schema(document, operation)
            request: dict[str, Any] = {}
            if body is not None:
                fields = {name: NUL for name in body[1].get("properties", {})}
                request = ({"json": fields} if body[0] == "application/json"
                           else {"data": fields})
                expected += [(name, True) for name in fields]
            if not expected:
                continue
            answers = {}
            for caller, headers in callers.items():
                response = await client.request(method, path, params=query, headers=headers,
                                                **request)
                assert response.status_code < 500, (method, template, caller, response.text)
                answers[caller] = response
            refused = [response for response in answers.values()
                       if response.status_code == 422
                       and all(_named(response.json(), name, nul=nul)
                               for name, nul in expected)]
            assert refused, (method, template, {caller: (response.status_code, response.text)
                                                for caller, response in answers.items()})
            checked.append(f"{method.upper()} {template}")
    assert {"POST /api/v1/auth/token", "POST /api/v1/auth/register", "PUT /api/v1/merchants/me",
            "PUT /api/v1/influencers/me", "POST /api/v1/programs", "POST /api/v1/products",
            "GET /api/v1/products", "POST /api/v1/campaigns"} <= set(checked)
