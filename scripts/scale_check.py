# ruff: noqa: S101, S105  (a measuring script: asserts check what it measures; the password is of test data)
"""The admin listing at a million users, against the real server, on SQLite and PostgreSQL.

    python scripts/scale_check.py                      # both backends, 1,000,000 users
    python scripts/scale_check.py --backends sqlite --count 100000

For each backend: a fresh database (SQLite in a temporary directory; PostgreSQL a uniquely named database,
dropped at the end) is seeded in bulk (scripts/seed_users.py), `authgate serve` starts on it with one worker
and the production password-hash cost, and an admin token is taken. Then, over real HTTP from this process:

- the first page of each sort, a walk of every page (limit 200: every user exactly once, and the time of the
  pages deep in the walk), `q=` prefixes from one match to tens of thousands, and the role filters;
- a registration at 1,000,000 users against one on an empty database (both pay the same argon2id hash);
- the query plans (EXPLAIN, exactly the SQL the store runs) of each shape.

Figures are medians (and p95) of repeated requests, in milliseconds, written to bench/results/scale-<date>.md
and .json. PostgreSQL is taken from AUTHGATE_TEST_POSTGRES_URL or 127.0.0.1:5432 (user postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from seed_users import seed

from authgate.storage.base import UserQuery
from authgate.storage.userpage import WIDE
from liveserver import authgate, live_server

RESULTS = Path(__file__).parents[1] / "bench" / "results"
PASSWORD = "scale-check-admin-passphrase"
REPEAT = 25
PRODUCTION_HASH = {"AUTHGATE_PASSWORD_HASH_MEMORY_KIB": "19456", "AUTHGATE_PASSWORD_HASH_TIME_COST": "2"}
PREFIXES = {  # seeded usernames are first.lastN, emails last.firstN@example.com (see seed_users.py)
    "q=alice.smith12 (a few matches)": "alice.smith12",
    "q=alice.smith1 (tens)": "alice.smith1",
    "q=alice.smith (hundreds)": "alice.smith",
    "q=alice.s (about the switch-over)": "alice.s",
    "q=alice. (thousands)": "alice.",
    "q=smith. (email prefix, tens of thousands)": "smith.",
    "q=a (a tenth of everyone)": "a",
}


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
        "n": len(ordered),
    }


def timed(client: httpx.Client, path: str, params: dict[str, Any], headers: dict[str, str]) -> tuple[float, Any]:
    start = time.perf_counter()
    response = client.get(path, params=params, headers=headers)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed, response.json()


def repeat(client: httpx.Client, params: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    timed(client, "/users", params, headers)  # warm
    samples = [timed(client, "/users", params, headers)[0] for _ in range(REPEAT)]
    _, body = timed(client, "/users", params, headers)
    return {**stats(samples), "items": len(body["items"])}


def walk(client: httpx.Client, headers: dict[str, str], expected: int) -> dict[str, Any]:
    seen: set[str] = set()
    times: list[float] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        elapsed, body = timed(client, "/users", params, headers)
        times.append(elapsed)
        pages += 1
        for item in body["items"]:
            assert item["id"] not in seen, "a user came twice"
            seen.add(item["id"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == expected, (len(seen), expected)
    tenth = max(1, len(times) // 10)
    return {
        "pages": pages,
        "users": len(seen),
        "every_user_once": True,
        "first_tenth": stats(times[:tenth]),
        "middle": stats(times[len(times) // 2 - tenth // 2 : len(times) // 2 + tenth // 2 + 1]),
        "last_tenth": stats(times[-tenth:]),
        "seconds": round(sum(times), 1),
    }


def register_times(url: str, count: int, tag: str) -> dict[str, float]:
    samples = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(count):
            body = {"username": f"reg{tag}{i}", "email": f"reg{tag}{i}@example.org", "password": PASSWORD}
            start = time.perf_counter()
            response = client.post("/auth/register", json=body)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 201, response.text
    return stats(samples)


async def plans(url: str) -> dict[str, list[str]]:
    shapes = {
        "first page": UserQuery(),
        "first page, -created_at": UserQuery(sort="-created_at"),
        "first page, username": UserQuery(sort="username"),
        "deep page": UserQuery(after=("1700000000000000", "018bcfe5-6800-7000-8000-000000000000")),
        "role=admin": UserQuery(role="admin"),
        "role=user, username": UserQuery(role="user", sort="username"),
        "q narrow": UserQuery(prefix="alice.smith1"),
        "q wide (username half)": UserQuery(prefix="alice."),
    }
    wide = {"q wide (username half)": (True, False)}
    out: dict[str, list[str]] = {}
    if url.startswith("sqlite:"):
        import sqlite3

        from authgate.storage.sqlite import path_from_url
        from authgate.storage.sqlite_users import user_page_sql

        conn = sqlite3.connect(path_from_url(url))
        for name, query in shapes.items():
            sql, args = user_page_sql(query, wide.get(name, (False, False)))
            out[name] = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args)]
        conn.close()
        return out
    import asyncpg

    from authgate.storage.postgres_users import user_page_sql as pg_sql

    pg = await asyncpg.connect(url)
    try:
        for name, query in shapes.items():
            sql, args = pg_sql(query, wide.get(name, (False, False)))
            rows = await pg.fetch("EXPLAIN (COSTS OFF) " + sql, *args)
            out[name] = [r[0].strip() for r in rows if "Cond" not in r[0] and "Filter" not in r[0]]
    finally:
        await pg.close()
    return out


def check(backend: str, url: str, count: int, tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": backend, "users": count}
    print(f"[{backend}] seeding {count:,} users ...", flush=True)
    result["seed_seconds"] = round(asyncio.run(seed(url, count)), 1)
    env = {"AUTHGATE_DATABASE_URL": url, "AUTHGATE_ACCESS_LOG": "false", "AUTHGATE_LOG_LEVEL": "warning"}
    env["AUTHGATE_RATE_LIMIT_ENABLED"] = "false"  # thousands of requests from one address, on purpose
    env |= PRODUCTION_HASH
    made = authgate(
        "create-user",
        "scaleadmin",
        "--email",
        "scale@example.org",
        "--admin",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    print(f"[{backend}] seeded in {result['seed_seconds']} s; measuring over HTTP ...", flush=True)
    with live_server(env, tmp) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        login = client.post("/auth/login", json={"username": "scaleadmin", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        result["first_page"] = {
            sort: repeat(client, {"sort": sort}, headers) for sort in ("created_at", "-created_at", "username")
        }
        result["walk_limit_200"] = walk(client, headers, count + 1)
        result["q"] = {name: repeat(client, {"q": prefix}, headers) for name, prefix in PREFIXES.items()}
        result["q_sorted_by_username"] = {
            name: repeat(client, {"q": prefix, "sort": "username"}, headers) for name, prefix in PREFIXES.items()
        }
        result["role"] = {
            "role=admin": repeat(client, {"role": "admin"}, headers),
            "role=user": repeat(client, {"role": "user"}, headers),
            "role=user, sort=username": repeat(client, {"role": "user", "sort": "username"}, headers),
        }
        result["register_at_scale"] = register_times(server.url, 10, "big")
    result["plans"] = asyncio.run(plans(url))
    return result


def empty_register(backend: str, url: str, tmp: Path) -> dict[str, float]:
    asyncio.run(seed(url, 0))
    env = {"AUTHGATE_DATABASE_URL": url, "AUTHGATE_ACCESS_LOG": "false", "AUTHGATE_LOG_LEVEL": "warning"}
    env["AUTHGATE_RATE_LIMIT_ENABLED"] = "false"  # thousands of requests from one address, on purpose
    with live_server(env | PRODUCTION_HASH, tmp) as server:
        register_times(server.url, 1, "warm")
        return register_times(server.url, 10, "small")


async def _admin(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_backend(backend: str, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="authgate-scale-") as tmpdir:
        tmp = Path(tmpdir)
        if backend == "sqlite":
            result = check(backend, f"sqlite:///{tmp}/scale.db", count, tmp)
            result["register_on_empty"] = empty_register(backend, f"sqlite:///{tmp}/empty.db", tmp)
            return result
        admin_url = os.environ.get("AUTHGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        base = admin_url.rsplit("/", 1)[0]
        names = [f"authgate_scale_{uuid.uuid4().hex[:12]}" for _ in range(2)]
        for name in names:
            asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
        try:
            result = check(backend, f"{base}/{names[0]}", count, tmp)
            result["register_on_empty"] = empty_register(backend, f"{base}/{names[1]}", tmp)
            return result
        finally:
            for name in names:
                asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"# Admin listing at scale ({meta['date']})",
        "",
        f"{meta['users']:,} seeded users (one shared argon2id hash, see scripts/seed_users.py), `authgate serve` "
        f"with one worker, requests over HTTP on 127.0.0.1 from one client, keep-alive. Median (p95) of {REPEAT} "
        "requests, "
        f"milliseconds, end to end (HTTP, token check, query, JSON). Machine: {meta['machine']}. Command: "
        f"`{meta['command']}`. q switches from sorting its matches to scanning the sort order at {WIDE:,} "
        "matching keys.",
        "",
        "| | " + " | ".join(r["backend"] for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, pick: Any) -> None:
        cells = []
        for r in results:
            s = pick(r)
            cells.append(f"{s['median_ms']} ({s['p95_ms']})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    lines.append("| seed (s) | " + " | ".join(str(r["seed_seconds"]) for r in results) + " |")
    for sort in ("created_at", "-created_at", "username"):
        row(f"first page, sort={sort} (50)", lambda r, s=sort: r["first_page"][s])
    row("walk, limit 200: first tenth of the pages", lambda r: r["walk_limit_200"]["first_tenth"])
    row("walk, limit 200: middle pages", lambda r: r["walk_limit_200"]["middle"])
    row("walk, limit 200: last tenth (deepest) pages", lambda r: r["walk_limit_200"]["last_tenth"])
    for name in PREFIXES:
        row(name, lambda r, n=name: r["q"][n])
    for name in PREFIXES:
        row(f"{name}, sort=username", lambda r, n=name: r["q_sorted_by_username"][n])
    for name in ("role=admin", "role=user", "role=user, sort=username"):
        row(name, lambda r, n=name: r["role"][n])
    row("POST /auth/register on an empty database", lambda r: r["register_on_empty"])
    row(f"POST /auth/register at {meta['users']:,} users", lambda r: r["register_at_scale"])
    lines += [
        "",
        "Walks: "
        + "; ".join(
            f"{r['backend']}: {r['walk_limit_200']['pages']:,} pages, {r['walk_limit_200']['users']:,} users, "
            f"each once, {r['walk_limit_200']['seconds']} s"
            for r in results
        ),
        "",
        "## Query plans",
        "",
    ]
    for r in results:
        lines.append(f"### {r['backend']}")
        lines.append("")
        for name, plan in r["plans"].items():
            lines.append(f"- {name}: `{' / '.join(plan)}`")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.time()
    results = [run_backend(b, args.count) for b in args.backends.split(",")]
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    meta = {
        "date": date,
        "users": args.count,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "python scripts/scale_check.py" + ("" if args.count == 1_000_000 else f" --count {args.count}"),
        "minutes": round((time.time() - started) / 60, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"scale-{date}"
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(results, meta) + "\n")
    print(f"wrote {stem}.md and .json in {meta['minutes']} min", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
