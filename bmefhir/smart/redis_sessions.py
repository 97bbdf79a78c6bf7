"""Sessions in Redis, shared by every worker process of the web app.

``MemorySessionStore`` serves one process; behind a load balancer, or with
``uvicorn --workers N``, the launch's callback and the page can land on different
processes, so they need one store. Sessions hold access and refresh tokens, so
they are encrypted (Fernet: AES-128-CBC + HMAC-SHA256) with a key only the app
has; Redis keys are SHA-256 hashes of the session ids, so neither tokens nor ids
are readable in Redis. A session expires ``ttl`` after its last use (Redis
``EX``, renewed on every read).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import redis
from cryptography.fernet import Fernet, InvalidToken
from pydantic import TypeAdapter, ValidationError

from bmefhir.smart.sessions import WebSession

__all__ = ["RedisSessionStore", "new_session_key"]

_CODEC = TypeAdapter(WebSession)


def new_session_key() -> str:
    """A fresh encryption key for ``BMEFHIR_WEB_SESSION_KEY``."""
    return Fernet.generate_key().decode()


class RedisSessionStore:
    """The ``SessionStore`` protocol over Redis; safe to share between processes."""

    def __init__(
        self, url: str, key: str, ttl: timedelta = timedelta(hours=8), prefix: str = "bmefhir:session:"
    ) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError:
            raise ValueError(
                "the session key must be a Fernet key (bmefhir.smart.redis_sessions.new_session_key)"
            ) from None
        self._redis = redis.Redis.from_url(url)
        self.ttl = ttl
        self._prefix = prefix

    def create(self, now: datetime) -> WebSession:
        session = WebSession.start(now)
        self.save(session)
        return session

    def get(self, session_id: str, now: datetime) -> WebSession | None:
        blob = self._redis.get(self._key(session_id))
        if blob is None:
            return None
        try:
            session = _CODEC.validate_json(self._fernet.decrypt(blob))
        except (InvalidToken, ValidationError):
            # Another key (rotated) or another version's layout: the user simply launches again.
            self.delete(session_id)
            return None
        if session.id != session_id or now - session.last_seen > self.ttl:
            self.delete(session_id)
            return None
        session.last_seen = now
        self.save(session)
        return session

    def rotate(self, session: WebSession, now: datetime) -> WebSession:
        """A new id (and CSRF token) for the same content: done at login against session fixation."""
        fresh = session.rotated(now)
        self.save(fresh)
        self.delete(session.id)
        return fresh

    def delete(self, session_id: str) -> None:
        self._redis.delete(self._key(session_id))

    def save(self, session: WebSession) -> None:
        blob = self._fernet.encrypt(_CODEC.dump_json(session))
        self._redis.set(self._key(session.id), blob, ex=max(1, int(self.ttl.total_seconds())))

    def close(self) -> None:
        self._redis.close()

    def _key(self, session_id: str) -> str:
        return self._prefix + hashlib.sha256(session_id.encode()).hexdigest()
