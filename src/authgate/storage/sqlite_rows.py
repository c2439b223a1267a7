"""The rows of users, sessions and refresh tokens in SQLite: their columns, and the domain object each row
becomes (for every store that reads them). Times are integer microseconds since the epoch (`domain/clock.py`)."""

from __future__ import annotations

from datetime import datetime

from authgate.domain.clock import from_micros as _dt
from authgate.domain.sessions import RefreshToken, Session
from authgate.domain.users import User


def optional_time(value: int | None) -> datetime | None:
    return None if value is None else _dt(value)


USER_COLUMNS = "id, username, email, password_hash, roles, disabled, email_verified, created_at, updated_at"
USER_WIDTH = 9
"""How many columns USER_COLUMNS are: where a column read beside them starts."""


def user_from_row(row: tuple) -> User:  # type: ignore[type-arg]
    return User(
        id=row[0],
        username=row[1],
        email=row[2],
        password_hash=row[3],
        roles=tuple(row[4].split(",")) if row[4] else (),
        disabled=bool(row[5]),
        email_verified=bool(row[6]),
        created_at=_dt(row[7]),
        updated_at=_dt(row[8]),
    )


SESSION_COLUMNS = (
    "s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ended_at, s.user_agent, s.ip, s.second_factor,"
    " s.method"
)
SESSION_WIDTH = 10
"""How many columns SESSION_COLUMNS are: where the next table's columns start in a joined row."""
JOINED_USER_COLUMNS = ", ".join("u." + c for c in USER_COLUMNS.split(", "))


def session_from_row(row: tuple) -> Session:  # type: ignore[type-arg]
    return Session(
        id=row[0],
        user_id=row[1],
        created_at=_dt(row[2]),
        last_used_at=_dt(row[3]),
        expires_at=_dt(row[4]),
        ended_at=optional_time(row[5]),
        user_agent=row[6],
        ip=row[7],
        second_factor=row[8],
        method=row[9],
    )


def token_from_row(row: tuple) -> RefreshToken:  # type: ignore[type-arg]
    return RefreshToken(
        token_hash=row[0],
        session_id=row[1],
        created_at=_dt(row[2]),
        expires_at=_dt(row[3]),
        rotated_at=optional_time(row[4]),
        successor_hash=row[5],
    )
