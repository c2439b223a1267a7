"""Schemathesis hooks for test_openapi_schemathesis.py (loaded by the schemathesis process: SCHEMATHESIS_HOOKS).

For the pass over the operations that end sessions: an access token that is replaced as soon as it stops
working. With one token for the whole pass, the first request that logged out ended it, and every later
request of these operations only ever saw 401 (schemathesis warned "Authentication failed: 3 operations
returned only 401/403"). Schemathesis keeps the token until a response is 401, then signs in again (cheaper
than a login per request, which would be the other way).
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis


@schemathesis.auth()  # kept until a 401 (retry_on's default): then `get` is called again
class FreshToken:
    def get(self, case: Any, context: Any) -> str:
        response = httpx.post(
            os.environ["AUTHGATE_SCHEMATHESIS_URL"] + "/auth/login",
            json={"username": "root", "password": os.environ["AUTHGATE_SCHEMATHESIS_PASSWORD"]},
            timeout=10,
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
