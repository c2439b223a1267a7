"""The rows of users, sessions and refresh tokens in PostgreSQL: their columns, and the domain object each row
becomes (for every store that reads them)."""

from __future__ import annotations

from typing import Any

from authgate.domain.sessions import RefreshToken, Session
from authgate.domain.users import User

USER_COLUMNS = "id, username, email, password_hash, roles, disabled, email_verified, created_at, updated_at"
USER_WIDTH = 9
"""How many columns USER_COLUMNS are: where a column read beside them starts."""
SESSION_COLUMNS = (
    "s.id, s.user_id, s.created_at, s.last_used_at, s.expires_at, s.ended_at, s.user_agent, s.ip, s.second_factor,"
    " s.method"
)
SESSION_WIDTH = 10
"""How many columns SESSION_COLUMNS are: where the next table's columns start in a joined row."""
JOINED_USER_COLUMNS = ", ".join("u." + c for c in USER_COLUMNS.split(", "))


def user_from_row(row: Any, at: int = 0) -> User:
    return User(
        id=row[at],
        username=row[at + 1],
        email=row[at + 2],
        password_hash=row[at + 3],
        roles=tuple(row[at + 4]),
        disabled=row[at + 5],
        email_verified=row[at + 6],
        created_at=row[at + 7],
        updated_at=row[at + 8],
    )


def session_from_row(row: Any, at: int = 0) -> Session:
    return Session(
        id=row[at],
        user_id=row[at + 1],
        created_at=row[at + 2],
        last_used_at=row[at + 3],
        expires_at=row[at + 4],
        ended_at=row[at + 5],
        user_agent=row[at + 6],
        ip=row[at + 7],
        second_factor=row[at + 8],
        method=row[at + 9],
    )


def token_from_row(row: Any) -> RefreshToken:
    return RefreshToken(
        token_hash=row[0],
        session_id=row[1],
        created_at=row[2],
        expires_at=row[3],
        rotated_at=row[4],
        successor_hash=row[5],
    )
