"""Sessions in a real Redis: shared between processes, encrypted at rest, expiring when idle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from bmefhir.smart.launch import PendingLaunch, SmartConfiguration, TokenSet
from bmefhir.smart.redis_sessions import RedisSessionStore, new_session_key
from bmefhir.smart.scopes import ScopeGrant
from bmefhir.web import WebSettings
from bmefhir.web.app import session_store

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ACCESS = "access-token-that-must-not-be-readable-in-redis"


@pytest.fixture
def key() -> str:
    return new_session_key()


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def signed_in_tokens() -> TokenSet:
    grant = ScopeGrant(frozenset({"launch/patient", "patient/Observation.rs"}))
    return TokenSet(
        "https://ehr.example/fhir",
        "https://ehr.example/token",
        ACCESS,
        NOW + timedelta(hours=1),
        grant,
        "refresh-token",
        "pat-1",
        "Practitioner/7",
    )


def test_a_session_saved_by_one_process_is_read_by_another(redis_url: str, raw: redis.Redis, key: str) -> None:
    first, second = RedisSessionStore(redis_url, key), RedisSessionStore(redis_url, key)
    session = first.create(NOW)
    config = SmartConfiguration("https://ehr.example/authorize", "https://ehr.example/token", frozenset({"launch-ehr"}))
    session.add_pending(
        PendingLaunch("state-1", "https://ehr.example/fhir", config, "verifier", "https://app/cb", "launch openid", NOW)
    )
    session.tokens = signed_in_tokens()
    first.save(session)

    found = second.get(session.id, NOW + timedelta(minutes=5))
    assert found is not None
    assert found.tokens == session.tokens
    assert found.pending == session.pending
    assert found.csrf == session.csrf
    assert found.last_seen == NOW + timedelta(minutes=5)

    taken = found.take_pending("state-1", NOW, timedelta(minutes=10))
    assert taken is not None
    second.save(found)
    again = first.get(session.id, NOW + timedelta(minutes=6))
    assert again is not None
    assert again.take_pending("state-1", NOW, timedelta(minutes=10)) is None, "a spent state stays spent everywhere"


def test_redis_holds_neither_tokens_nor_session_ids(redis_url: str, raw: redis.Redis, key: str) -> None:
    store = RedisSessionStore(redis_url, key)
    session = store.create(NOW)
    session.tokens = signed_in_tokens()
    store.save(session)
    (name,) = raw.keys("*")
    value = raw.get(name)
    assert value is not None
    for secret in (ACCESS.encode(), b"refresh-token", session.id.encode(), session.csrf.encode()):
        assert secret not in name
        assert secret not in value
    assert 0 < raw.ttl(name) <= 8 * 3600


def test_idle_sessions_expire_and_rotation_retires_the_old_id(redis_url: str, raw: redis.Redis, key: str) -> None:
    store = RedisSessionStore(redis_url, key, ttl=timedelta(minutes=30))
    session = store.create(NOW)
    assert store.get(session.id, NOW + timedelta(minutes=31)) is None
    assert raw.keys("*") == []

    session = store.create(NOW)
    session.tokens = signed_in_tokens()
    fresh = store.rotate(session, NOW)
    assert fresh.id != session.id
    assert fresh.csrf != session.csrf
    assert store.get(session.id, NOW) is None
    rotated = store.get(fresh.id, NOW)
    assert rotated is not None
    assert rotated.tokens == session.tokens


def test_a_session_under_another_key_is_dropped_not_an_error(redis_url: str, raw: redis.Redis, key: str) -> None:
    session = RedisSessionStore(redis_url, key).create(NOW)
    assert RedisSessionStore(redis_url, new_session_key()).get(session.id, NOW) is None
    assert raw.keys("*") == []


def test_configuration_mistakes_fail_at_start_up(redis_url: str) -> None:
    without_key = WebSettings(_env_file=None, session_store=redis_url)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="BMEFHIR_WEB_SESSION_KEY is not"):
        session_store(without_key)
    with pytest.raises(ValueError, match="must be a Fernet key"):
        RedisSessionStore(redis_url, "not-a-key")
    memory = session_store(WebSettings(_env_file=None))  # type: ignore[call-arg]
    assert type(memory).__name__ == "MemorySessionStore"
