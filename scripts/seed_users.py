# ruff: noqa: S311  (seeded random data, not secrets)
"""Seed many users into an authgate database, in bulk: COPY on PostgreSQL, one executemany transaction on SQLite.

    python scripts/seed_users.py --database-url sqlite:///./scale.db --count 1000000

Every seeded user has the same password hash (argon2id, the default cost, of SEEDED_PASSWORD): hashing a million
passwords would take hours and measures nothing the scale check is about. Usernames, emails and creation times
are deterministic (seeded random), spread so that `q=` prefixes have every selectivity from one user to
thousands; one user in 100,000 is an admin, one in 1,000 is disabled. The schema is migrated first, and the
user_roles rows are made by the same triggers that make them in production.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from authgate.domain.passwords import HashParameters, PasswordHasher
from authgate.domain.users import email_key, username_key
from authgate.storage import open_database
from authgate.storage.sqlite import path_from_url

SEEDED_PASSWORD = "seeded-password-do-not-use"  # noqa: S105 (the known password of test data)
START = datetime(2023, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=30)
ADMIN_EVERY = 100_000
DISABLED_EVERY = 1_000
BATCH = 50_000

FIRST = [
    "ada",
    "alan",
    "alice",
    "amara",
    "anna",
    "arjun",
    "ben",
    "bianca",
    "boris",
    "carla",
    "chen",
    "chloe",
    "dario",
    "david",
    "dmitri",
    "elena",
    "emma",
    "farah",
    "felix",
    "fatima",
    "gita",
    "grace",
    "hana",
    "hugo",
    "ines",
    "ivan",
    "jade",
    "jamal",
    "jonas",
    "julia",
    "kai",
    "karim",
    "kenji",
    "lara",
    "leo",
    "lina",
    "luca",
    "maya",
    "mei",
    "mohamed",
    "nadia",
    "nina",
    "noah",
    "olga",
    "omar",
    "paula",
    "pedro",
    "priya",
    "quinn",
    "rafael",
    "rosa",
    "sami",
    "sara",
    "sofia",
    "tariq",
    "theo",
    "uma",
    "vera",
    "victor",
    "wei",
    "yara",
    "yusuf",
    "zoe",
    "zhang",
]
LAST = [
    "abe",
    "bauer",
    "costa",
    "diaz",
    "evans",
    "fischer",
    "garcia",
    "haddad",
    "ito",
    "jensen",
    "kowalski",
    "lopez",
    "martin",
    "nguyen",
    "okafor",
    "petrov",
    "quispe",
    "rossi",
    "silva",
    "tanaka",
    "ueda",
    "varga",
    "weber",
    "xu",
    "yilmaz",
    "zimmer",
    "khan",
    "smith",
    "muller",
    "dubois",
    "novak",
    "sato",
]


def uuid7_at(moment: datetime, rng: random.Random) -> str:
    ms = int(moment.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF
    return str(uuid.UUID(int=value))


def seeded_user(i: int, rng: random.Random) -> tuple[str, str, str, str, str, bool, datetime]:
    """(id, username, email, roles as a comma list, ..., disabled, created_at) of the i-th seeded user."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    created = START + STEP * i
    username = f"{first}.{last}{i}"
    email = f"{last}.{first}{i}@example.com"
    roles = "admin,user" if i % ADMIN_EVERY == 0 else "user"
    return uuid7_at(created, rng), username, email, roles, "", i % DISABLED_EVERY == DISABLED_EVERY - 1, created


def batches(count: int, size: int = BATCH) -> Iterator[list[tuple[str, str, str, str, str, bool, datetime]]]:
    rng = random.Random(20260101)
    batch = []
    for i in range(count):
        batch.append(seeded_user(i, rng))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def seeded_hash() -> str:
    return PasswordHasher(HashParameters()).hash(SEEDED_PASSWORD)


async def migrate(url: str) -> None:
    db = open_database(url)
    await db.connect()
    try:
        await db.migrate()
    finally:
        await db.close()


def seed_sqlite(url: str, count: int, password_hash: str) -> None:
    conn = sqlite3.connect(path_from_url(url), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -262144")  # 256 MiB while seeding
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    conn.execute("BEGIN IMMEDIATE")
    for batch in batches(count):
        conn.executemany(
            "INSERT INTO users (id, username, username_key, email, email_key, password_hash, roles, disabled,"
            " email_verified, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,1,?,?)",
            [
                (
                    uid,
                    name,
                    username_key(name),
                    email,
                    email_key(email),
                    password_hash,
                    roles,
                    int(disabled),
                    (created - epoch) // timedelta(microseconds=1),
                    (created - epoch) // timedelta(microseconds=1),
                )
                for uid, name, email, roles, _, disabled, created in batch
            ],
        )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def seed_postgres(url: str, count: int, password_hash: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for batch in batches(count):
                await conn.copy_records_to_table(
                    "users",
                    columns=[
                        "id",
                        "username",
                        "username_key",
                        "email",
                        "email_key",
                        "password_hash",
                        "roles",
                        "disabled",
                        "email_verified",
                        "created_at",
                        "updated_at",
                    ],
                    records=[
                        (
                            uuid.UUID(uid),
                            name,
                            username_key(name),
                            email,
                            email_key(email),
                            password_hash,
                            roles.split(","),
                            disabled,
                            True,
                            created,
                            created,
                        )
                        for uid, name, email, roles, _, disabled, created in batch
                    ],
                )
        await conn.execute("VACUUM ANALYZE users")
        await conn.execute("VACUUM ANALYZE user_roles")
    finally:
        await conn.close()


async def seed(url: str, count: int) -> float:
    """Migrate, then insert `count` users; the seconds the insert took."""
    await migrate(url)
    password_hash = seeded_hash()
    start = time.perf_counter()
    if url.startswith("sqlite:"):
        seed_sqlite(url, count, password_hash)
    else:
        await seed_postgres(url, count, password_hash)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("AUTHGATE_DATABASE_URL"), required=False)
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url (or AUTHGATE_DATABASE_URL) is required")
    seconds = asyncio.run(seed(args.database_url, args.count))
    print(f"seeded {args.count:,} users in {seconds:.1f} s ({args.count / seconds:,.0f} users/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
