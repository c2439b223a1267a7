"""KeySet: parsing a JWKS, caching, the refetch rate limit, keeping keys when a refetch fails, threads."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fake_authgate import FakeClock, jwk

from authgate.client import AuthgateUnavailable, KeySet, parse_jwks


class Source:
    """A JWKS endpoint as a function: the test sets the keys or makes it fail, and counts the calls."""

    def __init__(self, *kids: str) -> None:
        self.keys = {kid: Ed25519PrivateKey.generate() for kid in kids}
        self.calls = 0
        self.failing = False
        self.delay = 0.0

    def __call__(self) -> bytes:
        self.calls += 1
        time.sleep(self.delay)
        if self.failing:
            raise AuthgateUnavailable("down")
        return json.dumps({"keys": [jwk(kid, key) for kid, key in self.keys.items()]}).encode()


def test_parse_jwks_keeps_only_ed25519_signing_keys() -> None:
    good = jwk("good", Ed25519PrivateKey.generate())
    document = {
        "keys": [
            good,
            {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
            {**good, "kid": "x448", "crv": "X448"},
            {**good, "kid": "enc", "use": "enc"},
            {**good, "kid": "es", "alg": "ES256"},
            {**good, "kid": "short", "x": "AAAA"},
            {**good, "kid": "padded", "x": good["x"] + "="},
            {**good, "kid": 7},
            {k: v for k, v in good.items() if k != "kid"},
            "not an object",
            {k: v for k, v in good.items() if k not in ("alg", "use")} | {"kid": "bare"},
        ]
    }
    assert set(parse_jwks(json.dumps(document).encode())) == {"good", "bare"}


@pytest.mark.parametrize("document", [b"", b"[]", b'{"keys": {}}', b"{", b'{"keys": []}', b"\xff"])
def test_parse_jwks_refuses_a_document_without_usable_keys(document: bytes) -> None:
    with pytest.raises(AuthgateUnavailable):
        parse_jwks(document)


def test_keys_are_fetched_on_first_need_and_cached(clock: FakeClock) -> None:
    source = Source("k1")
    keys = KeySet(source, monotonic=clock)
    assert not keys.loaded and keys.snapshot() == {}
    assert keys.refresh("k1") is True
    assert keys.refresh("k1") is True
    assert source.calls == 1 and keys.kids == {"k1"}


def test_unknown_kids_refetch_at_most_once_per_interval(clock: FakeClock) -> None:
    source = Source("k1")
    keys = KeySet(source, refresh_interval=30, monotonic=clock)
    keys.refresh("k1")
    clock.advance(30)
    for n in range(100):
        assert keys.refresh(f"made-up-{n}") is False
    assert source.calls == 2
    assert not keys.may_refresh()
    source.keys["k2"] = Ed25519PrivateKey.generate()
    clock.advance(29.9)
    assert keys.refresh("k2") is False
    clock.advance(0.1)
    assert keys.may_refresh()
    assert keys.refresh("k2") is True
    assert source.calls == 3


def test_a_failed_refetch_keeps_the_keys(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    source = Source("k1")
    keys = KeySet(source, refresh_interval=30, monotonic=clock)
    keys.refresh("k1")
    source.failing = True
    clock.advance(30)
    with caplog.at_level(logging.WARNING, logger="authgate.client"):
        assert keys.refresh("k2") is False
    assert keys.kids == {"k1"}
    assert "keeping 1 known keys" in caplog.text


def test_without_any_keys_a_failure_is_unavailable_and_still_rate_limited(clock: FakeClock) -> None:
    source = Source("k1")
    source.failing = True
    keys = KeySet(source, refresh_interval=30, monotonic=clock)
    with pytest.raises(AuthgateUnavailable):
        keys.refresh("k1")
    assert keys.refresh("k1") is False
    assert source.calls == 1
    source.failing = False
    clock.advance(30)
    assert keys.refresh("k1") is True


def test_old_keys_are_refetched_so_withdrawn_keys_stop_verifying(clock: FakeClock) -> None:
    source = Source("k1", "k2")
    keys = KeySet(source, refresh_interval=30, max_age=300, monotonic=clock)
    keys.refresh("k1")
    del source.keys["k1"]
    clock.advance(299)
    assert not keys.due()
    clock.advance(1)
    assert keys.due()
    assert keys.refresh() is True
    assert keys.kids == {"k2"} and not keys.due()


def test_a_stale_refresh_does_not_wait_for_another_thread(clock: FakeClock) -> None:
    source = Source("k1")
    keys = KeySet(source, monotonic=clock)
    keys.refresh("k1")
    clock.advance(300)
    source.delay = 0.3
    worker = threading.Thread(target=keys.refresh)
    worker.start()
    time.sleep(0.1)
    started = time.monotonic()
    assert keys.refresh() is False
    assert time.monotonic() - started < 0.1
    worker.join()
    assert source.calls == 2


def test_threads_asking_for_one_new_kid_cause_one_fetch() -> None:
    source = Source("k1")
    source.delay = 0.05
    keys = KeySet(source)
    results: list[bool] = []
    threads = [threading.Thread(target=lambda: results.append(keys.refresh("k1"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 20
    assert source.calls == 1


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="refresh_interval"):
        KeySet(Source(), refresh_interval=60, max_age=30)
