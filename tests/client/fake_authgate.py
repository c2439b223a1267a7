"""A stand-in authgate for the client tests: a real HTTP server on 127.0.0.1, in a thread, serving discovery,
the JWKS and introspection from keys the test holds, and a signer for tokens of any shape.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from authgate.client import TokenVerifier


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk(kid: str, key: Ed25519PrivateKey) -> dict[str, str]:
    x = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(x), "kid": kid, "alg": "EdDSA", "use": "sig"}


def encode_token(key: Ed25519PrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    return signing_input + "." + b64url(key.sign(signing_input.encode()))


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeAuthgate:
    def __init__(self) -> None:
        self.url = ""
        self.issuer = ""
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.current_kid = ""
        self.revoked_sids: set[str] = set()
        self.requests: Counter[str] = Counter()
        self.down = False
        self.discovery_overrides: dict[str, Any] = {}
        self.rotate()

    def rotate(self) -> str:
        """Add a new current key; the older ones stay published."""
        self.current_kid = f"k{len(self.keys) + 1}-{uuid.uuid4().hex[:6]}"
        self.keys[self.current_kid] = Ed25519PrivateKey.generate()
        return self.current_kid

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": "user-1",
            "aud": "authgate",
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "jti": uuid.uuid4().hex,
            "sid": "session-1",
            "roles": ["user"],
            "username": "alice",
            "email_verified": True,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, *, kid: str | None = None, header: dict[str, Any] | None = None, **claims: Any) -> str:
        kid = kid or self.current_kid
        full_header = {"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
        full_header.update(header or {})
        return encode_token(self.keys[kid], full_header, self.claims(**claims))

    def verifier(self, **options: Any) -> TokenVerifier:
        return TokenVerifier(self.issuer, **options)

    # the HTTP side

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        self.requests[f"{method} {path}"] += 1
        if self.down:
            return 500, {"error": "down"}
        if (method, path) == ("GET", "/.well-known/openid-configuration"):
            document = {
                "issuer": self.issuer,
                "jwks_uri": self.url + "/.well-known/jwks.json",
                "introspection_endpoint": self.url + "/auth/introspect",
            }
            return 200, document | self.discovery_overrides
        if (method, path) == ("GET", "/.well-known/jwks.json"):
            return 200, {"keys": [jwk(kid, key) for kid, key in reversed(self.keys.items())]}
        if (method, path) == ("POST", "/auth/introspect"):
            token = parse_qs(body.decode())["token"][0]
            payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
            if payload["sid"] in self.revoked_sids:
                return 200, {"active": False}
            return 200, {"active": True, "sub": payload["sub"], "sid": payload["sid"], "exp": payload["exp"]}
        return 404, {"error": "not found"}


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self._reply(b"")

    def do_POST(self) -> None:
        self._reply(self.rfile.read(int(self.headers.get("content-length", "0"))))

    def _reply(self, body: bytes) -> None:
        status, document = self.server.fake.answer(self.command, self.path, body)
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeAuthgate) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.fake = fake
