"""Registration, login, tokens and the account endpoints, over HTTP against the real app."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from skinstack.accounts import security
from skinstack.accounts.security import AUDIENCE, ISSUER, create_access_token
from tests.factories import PASSWORD, login, register, unique_email

PROBLEM = "application/problem+json"


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    email = unique_email("Creator").upper()
    response = await client.post("/api/v1/auth/register",
                                 json={"email": f"  {email} ", "password": PASSWORD,
                                       "role": "influencer"})
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == email.strip().lower()
    assert body["role"] == "influencer"
    assert set(body) == {"id", "email", "role"}

    token_response = await login(client, email)  # any case logs in
    assert token_response.status_code == 200
    token = token_response.json()
    assert token["token_type"] == "bearer"
    assert token["expires_in"] == 30 * 60

    headers = {"Authorization": f"Bearer {token['access_token']}"}
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json() | {"created_at": None} == {
        "id": body["id"], "email": body["email"], "role": "influencer", "is_active": True,
        "created_at": None, "influencer": None, "merchant": None}


async def test_token_claims_are_pinned(client: httpx.AsyncClient, app) -> None:
    account = await register(client, "merchant")
    header, payload, _ = account.token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["sub"] == account.id
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert "email" not in claims


async def test_duplicate_email_is_409_whatever_the_case(client: httpx.AsyncClient) -> None:
    account = await register(client, "merchant")
    response = await client.post("/api/v1/auth/register", json={
        "email": account.email.upper(), "password": PASSWORD, "role": "influencer"})
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "email_taken"


async def test_admin_cannot_self_register(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/auth/register", json={
        "email": unique_email(), "password": PASSWORD, "role": "admin"})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["role"]


@pytest.mark.parametrize(("body", "fields"), [
    ({"email": "not-an-email", "password": PASSWORD, "role": "merchant"}, ["email"]),
    ({"email": "a@example.com", "password": "nine char", "role": "merchant"}, ["password"]),
    ({"email": "a@example.com", "password": PASSWORD}, ["role"]),
    ({"email": "a@example.com", "password": PASSWORD, "role": "merchant", "is_admin": True},
     ["is_admin"]),
])
async def test_register_validation_names_the_fields(
    client: httpx.AsyncClient, body: dict, fields: list[str]
) -> None:
    response = await client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert [error["field"] for error in problem["errors"]] == fields
    assert PASSWORD not in response.text  # the input is never echoed back


async def test_wrong_password_and_unknown_email_are_the_same_401(client: httpx.AsyncClient) -> None:
    account = await register(client, "influencer")
    wrong = await login(client, account.email, "not the password at all")
    unknown = await login(client, unique_email("nobody"))
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["www-authenticate"] == "Bearer"


async def test_unknown_email_still_pays_for_a_password_check(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_verify = security._hasher.verify

    def counting_verify(password: str, hash: str) -> bool:
        calls.append(hash)
        return real_verify(password, hash)

    monkeypatch.setattr(security._hasher, "verify", counting_verify)
    response = await login(client, unique_email("nobody"))
    assert response.status_code == 401
    assert calls == [security._DUMMY_HASH]  # a full argon2id verification, like a real miss


def _forge(payload: dict, secret: str, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, secret, algorithm=algorithm)


async def test_bad_tokens_are_401(client: httpx.AsyncClient, app) -> None:
    account = await register(client, "merchant")
    secret = app.state.jwt_secret
    now = datetime.now(UTC)
    base = {"sub": account.id, "role": "merchant", "iss": ISSUER, "aud": AUDIENCE,
            "iat": now, "exp": now + timedelta(minutes=5)}
    header, payload, signature = account.token.split(".")
    unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    tampered_payload = base64.urlsafe_b64encode(json.dumps(
        {**json.loads(base64.urlsafe_b64decode(payload + "==")), "role": "admin"}).encode()
    ).rstrip(b"=").decode()
    tokens = {
        "expired": create_access_token(user_id=uuid.UUID(account.id), role="merchant",
                                       secret=secret, expires_in=timedelta(minutes=30),
                                       now=now - timedelta(hours=1)),
        "tampered": f"{header}.{tampered_payload}.{signature}",
        "alg none": f"{unsigned_header}.{payload}.",
        "other key": _forge(base, "another-secret-of-sufficient-length-123"),
        "HS512": _forge(base, secret, "HS512"),
        "no expiry": _forge({key: value for key, value in base.items() if key != "exp"}, secret),
        "wrong audience": _forge(base | {"aud": "elsewhere"}, secret),
        "unknown user": _forge(base | {"sub": str(uuid.uuid4())}, secret),
        "role changed": _forge(base | {"role": "admin"}, secret),
        "garbage": "not.a.token",
    }
    for name, token in tokens.items():
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.headers["content-type"] == PROBLEM, name
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (await client.get("/api/v1/me", headers=account.headers)).status_code == 200


async def test_deactivated_user_token_stops_working_at_once(
    client: httpx.AsyncClient, admin
) -> None:
    account = await register(client, "influencer")
    assert (await client.get("/api/v1/me", headers=account.headers)).status_code == 200
    response = await client.patch(f"/api/v1/admin/users/{account.id}", json={"is_active": False},
                                  headers=admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert (await client.get("/api/v1/me", headers=account.headers)).status_code == 401
    assert (await login(client, account.email)).status_code == 401
    await client.patch(f"/api/v1/admin/users/{account.id}", json={"is_active": True},
                       headers=admin.headers)
    assert (await client.get("/api/v1/me", headers=account.headers)).status_code == 200


async def test_wrong_role_is_403(client: httpx.AsyncClient) -> None:
    influencer = await register(client, "influencer")
    merchant = await register(client, "merchant")
    calls = [
        ("put", "/api/v1/merchants/me", influencer, {"business_name": "x",
                                                      "website_url": "https://x.example.com"}),
        ("put", "/api/v1/influencers/me", merchant, {"display_name": "x",
                                                      "preferred_payout_method": "ach"}),
        ("get", "/api/v1/merchants/me/integrations", influencer, None),
        ("get", "/api/v1/audit-logs", merchant, None),
        ("get", "/api/v1/admin/users", influencer, None),
        ("patch", f"/api/v1/admin/users/{merchant.id}", merchant, {"is_active": False}),
    ]
    for method, path, account, body in calls:
        response = await client.request(method, path, json=body, headers=account.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["status"] == 403


async def test_login_throttle_after_ten_failures(client: httpx.AsyncClient) -> None:
    account = await register(client, "merchant")
    for _ in range(10):
        assert (await login(client, account.email, "wrong password!!")).status_code == 401
    refused = await login(client, account.email)  # even the right password waits now
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["code"] == "rate_limited"
    other = await register(client, "merchant")
    assert (await login(client, other.email)).status_code == 200  # per email, not global


async def test_success_resets_the_failure_count(client: httpx.AsyncClient) -> None:
    account = await register(client, "merchant")
    for _ in range(9):
        await login(client, account.email, "wrong password!!")
    assert (await login(client, account.email)).status_code == 200
    for _ in range(9):
        assert (await login(client, account.email, "wrong password!!")).status_code == 401
    assert (await login(client, account.email)).status_code == 200
