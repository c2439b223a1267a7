"""Malformed, oversized, missing and hostile input: always a precise 4xx problem+json, never a 500."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from authgate.app import App
from helpers import BAD_JSON_BODIES, assert_problem, bearer, login, register

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("path", ["/auth/register", "/auth/login", "/auth/refresh", "/auth/login/mfa"])
@pytest.mark.parametrize(("body", "status", "code"), BAD_JSON_BODIES)
async def test_bad_json_bodies(client: httpx.AsyncClient, path: str, body: bytes, status: int, code: str) -> None:
    response = await client.post(path, content=body, headers=JSON)
    assert_problem(response, status, code)


async def test_nul_bytes(client: httpx.AsyncClient) -> None:
    body = {"username": "a\u0000b", "email": "a\u0000@example.com", "password": "pass\u0000word-long"}
    problem = assert_problem(await client.post("/auth/register", json=body), 422, "validation_failed")
    assert {e["field"] for e in problem["errors"]} == {"username", "email"}
    assert_problem(await client.post("/auth/login", json=body), 401, "invalid_credentials")
    assert_problem(await client.post("/auth/refresh", json={"refresh_token": "\u0000"}), 401, "invalid_refresh_token")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_non_json_body_is_415(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/auth/login", content=b'{"username":"a","password":"b"}', headers=headers)
    assert_problem(response, 415, "unsupported_media_type")


async def test_json_with_charset_is_fine(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login",
        content=b'{"username":"nobody","password":"whatever1"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert_problem(response, 401, "invalid_credentials")


@pytest.mark.parametrize("size", [64 * 1024 + 1, 10 * 1024 * 1024])
async def test_oversized_body_is_413(client: httpx.AsyncClient, size: int) -> None:
    body = b'{"username": "' + b"a" * size + b'"}'
    response = await client.post("/auth/register", content=body, headers=JSON)
    assert_problem(response, 413, "payload_too_large")


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    response = await client.post("/auth/register", content=chunks(), headers=JSON)
    assert_problem(response, 413, "payload_too_large")


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404, "not_found")
    assert_problem(await client.get("/auth/register/../../etc/passwd"), 404, "not_found")


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/login")
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    response = await client.delete("/ping")
    assert response.headers["allow"] == "GET"


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ping", headers={"x-request-id": "abc-123"})).headers["x-request-id"] == "abc-123"
    hostile = (await client.get("/ping", headers={"x-request-id": "a\tb<script>" + "x" * 300})).headers
    assert hostile["x-request-id"] != "a\tb<script>" + "x" * 300


async def test_sql_metacharacters_are_just_data(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/login",
        json={"username": "' OR 1=1; DROP TABLE users; --", "password": "'; DELETE FROM users; --"},
    )
    assert_problem(response, 401, "invalid_credentials")
    response = await client.post(
        "/auth/register",
        json={"username": "robert'); DROP", "email": "x'@example.com", "password": "x' OR '1'='1"},
    )
    assert response.status_code == 422
    await register(client, "alice")  # the table is still there


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestHostileTokens:
    @pytest.fixture
    async def valid(self, client: httpx.AsyncClient, app: App) -> dict[str, Any]:
        await register(client, "alice")
        tokens = await login(client, "alice")
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        return {
            "tokens": tokens,
            "claims": claims,
            "key": app.services.tokens.keyring.private_key,
            "kid": app.services.tokens.keyring.kid,
        }

    def sign(
        self, valid: dict[str, Any], key: Any = None, headers: dict[str, Any] | None = None, **changes: Any
    ) -> str:
        claims = {**valid["claims"], **changes}
        return jwt.encode(
            claims,
            key or valid["key"],
            algorithm="EdDSA",
            headers={"typ": "at+jwt", "kid": valid["kid"], **(headers or {})},
        )

    async def me(self, client: httpx.AsyncClient, token: str) -> httpx.Response:
        return await client.get("/auth/me", headers=bearer(token))

    async def test_control_our_signing_is_accepted(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        assert (await self.me(client, self.sign(valid))).status_code == 200

    @pytest.mark.parametrize(
        "changes",
        [
            {"exp": int(time.time()) - 60},
            {"nbf": int(time.time()) + 600},
            {"iat": int(time.time()) + 600},
            {"aud": "someone-else"},
            {"iss": "https://evil.example"},
            {"sub": "00000000-0000-7000-8000-000000000000"},
            {"sid": "00000000-0000-7000-8000-000000000000"},
            {"sid": "not-a-uuid"},
            {"roles": "admin"},
            {"exp": "tomorrow"},
        ],
    )
    async def test_bad_claims(self, client: httpx.AsyncClient, valid: dict[str, Any], changes: dict[str, Any]) -> None:
        response = await self.me(client, self.sign(valid, **changes))
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_wrong_typ(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        assert (await self.me(client, self.sign(valid, headers={"typ": "JWT"}))).status_code == 401

    async def test_unknown_key(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        other = Ed25519PrivateKey.generate()
        assert (await self.me(client, self.sign(valid, key=other))).status_code == 401
        assert (await self.me(client, self.sign(valid, key=other, headers={"kid": "nope"}))).status_code == 401

    async def test_alg_none(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        token = jwt.encode(valid["claims"], None, algorithm="none", headers={"typ": "at+jwt", "kid": valid["kid"]})
        assert (await self.me(client, token)).status_code == 401
        assert (await self.me(client, token + "AAAA")).status_code == 401

    async def test_hs256_with_the_public_key(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        public = valid["key"].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        header = _b64(b'{"alg":"HS256","typ":"at+jwt","kid":"' + valid["kid"].encode() + b'"}')
        payload = _b64(jwt.api_jws.json.dumps(valid["claims"]).encode())
        import hashlib
        import hmac

        for secret in (public, _b64(public).encode()):
            sig = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
            assert (await self.me(client, f"{header}.{payload}.{sig}")).status_code == 401

    async def test_tampered_payload(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        header, _, sig = valid["tokens"]["access_token"].split(".")
        payload = _b64(jwt.api_jws.json.dumps({**valid["claims"], "roles": ["admin"]}).encode())
        assert (await self.me(client, f"{header}.{payload}.{sig}")).status_code == 401

    async def test_a_header_that_is_not_utf8(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        _, payload, sig = valid["tokens"]["access_token"].split(".")
        for header in (b'{"alg":"\xff"}', b'{"alg":"EdDSA","typ":"at+jwt","kid":"\xed\xa0\x80"}'):
            response = await self.me(client, f"{_b64(header)}.{payload}.{sig}")
            assert_problem(response, 401, "invalid_token")
            form = {"token": f"{_b64(header)}.{payload}.{sig}"}
            assert (await client.post("/auth/introspect", data=form)).json() == {"active": False}

    async def test_huge_header(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        token = self.sign(valid, headers={"pad": "x" * 1_000_000})
        assert (await self.me(client, token)).status_code == 401

    async def test_extra_header_fields_are_refused(self, client: httpx.AsyncClient, valid: dict[str, Any]) -> None:
        token = self.sign(valid, headers={"crit": ["exp"], "jku": "https://evil.example/jwks"})
        assert (await self.me(client, token)).status_code == 401


@pytest.mark.parametrize("path", ["/users", "/audit", "/login"])
async def test_too_many_query_parameters_is_422(client: httpx.AsyncClient, app: App, path: str) -> None:
    await app.services.auth.register("root", "root@example.com", "root-password-long", roles=("admin",), by_admin=True)
    admin = bearer((await login(client, "root", "root-password-long"))["access_token"])
    query = "&".join(f"p{i}=v" for i in range(65))
    response = await client.get(f"{path}?{query}", headers=admin)
    assert response.status_code == 422
    if path != "/login":  # the page renders the same error as HTML
        problem = assert_problem(response, 422, "validation_failed")
        assert problem["errors"] == [{"field": "query", "message": "must have at most 64 parameters"}]
    assert (await client.get(f"{path}?{query.rsplit('&', 1)[0]}", headers=admin)).status_code == 200
