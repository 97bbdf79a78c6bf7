"""The server-side session store: the browser holds only an opaque, random session id.

Tokens, PKCE verifiers and launch state live here and never reach the page,
URLs or logs. ``MemorySessionStore`` serves one process (``bmefhir serve`` runs
one worker); a deployment with several workers uses
``bmefhir.smart.redis_sessions.RedisSessionStore``. Whoever changes a session
(pending launches, tokens) calls ``store.save(session)``: a shared store holds a
copy, not the object.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bmefhir.smart.launch import PendingLaunch, TokenSet

__all__ = ["MemorySessionStore", "SessionStore", "WebSession"]

_MAX_PENDING = 8  # launches in flight per browser (several tabs), oldest dropped first


@dataclass
class WebSession:
    id: str = field(repr=False)
    csrf: str = field(repr=False)
    last_seen: datetime
    pending: dict[str, PendingLaunch] = field(default_factory=dict, repr=False)
    tokens: TokenSet | None = None

    @classmethod
    def start(cls, now: datetime) -> WebSession:
        """A new, empty session with fresh random id and CSRF token."""
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now)

    def rotated(self, now: datetime) -> WebSession:
        """The same content under a new id and CSRF token (at login, against session fixation)."""
        return replace(WebSession.start(now), pending=self.pending, tokens=self.tokens)

    def add_pending(self, launch: PendingLaunch) -> None:
        self.pending[launch.state] = launch
        while len(self.pending) > _MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))

    def take_pending(self, state: str, now: datetime, ttl: timedelta) -> PendingLaunch | None:
        """The launch this ``state`` belongs to, removed so a replay finds nothing; None if unknown or stale."""
        launch = self.pending.pop(state, None)
        if launch is None or now - launch.started > ttl:
            return None
        return launch


class SessionStore(Protocol):
    def create(self, now: datetime) -> WebSession: ...

    def get(self, session_id: str, now: datetime) -> WebSession | None: ...

    def rotate(self, session: WebSession, now: datetime) -> WebSession: ...

    def delete(self, session_id: str) -> None: ...

    def save(self, session: WebSession) -> None: ...


class MemorySessionStore:
    """Sessions in this process's memory, expiring after ``ttl`` idle, at most ``max_sessions``."""

    def __init__(self, ttl: timedelta = timedelta(hours=8), max_sessions: int = 10_000) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, WebSession] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, now: datetime) -> WebSession:
        session = WebSession.start(now)
        with self._lock:
            self._sessions[session.id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str, now: datetime) -> WebSession | None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.ttl:
                del self._sessions[session_id]
                return None
            session.last_seen = now
            self._sessions.move_to_end(session_id)
            return session

    def rotate(self, session: WebSession, now: datetime) -> WebSession:
        """A new id (and CSRF token) for the same content: done at login against session fixation."""
        fresh = session.rotated(now)
        with self._lock:
            self._sessions.pop(session.id, None)
            self._sessions[fresh.id] = fresh
        return fresh

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def save(self, session: WebSession) -> None:
        """Nothing to do: this store holds the session objects themselves."""
