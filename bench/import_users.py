"""How long `authgate import-users` takes for a big JSON Lines file, into SQLite and into PostgreSQL.

    python bench/import_users.py                  # 1,000,000 users, both databases, a report in bench/results/
    python bench/import_users.py --users 100000 --targets sqlite --out /tmp

The file holds one user per line, their hashes drawn from a pool made by the real libraries in every accepted
format (the import only parses a hash, so reusing a string costs what a fresh one would), and one line in a
thousand is broken in one of several ways so that the reject path runs too. Each target gets a fresh database
(PostgreSQL: created on the server at BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres,
and dropped after). Each import runs twice: the first imports, the second must skip everyone (idempotency at
scale). The command runs as an operator runs it, in a subprocess; wall time, CPU time and peak memory are its.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

BROKEN_EVERY = 1000


def hash_pool() -> list[str]:
    from legacy_samples import MAKERS

    return [make(f"password {i}") for i in range(20) for make in MAKERS.values()]


def write_source(path: Path, users: int) -> int:
    pool = hash_pool()
    broken = [
        "{not json",
        json.dumps({"username": "has space {i}", "email": "x{i}@example.com", "password_hash": pool[0]}),
        json.dumps({"username": "md5_{i}", "email": "md5_{i}@example.com", "password_hash": "5f4dcc3b5aa765d6"}),
        json.dumps({"username": "nohash_{i}", "email": "nohash_{i}@example.com"}),
    ]
    rejected = 0
    with path.open("w") as out:
        for i in range(users):
            if i % BROKEN_EVERY == BROKEN_EVERY - 1:
                out.write(broken[(i // BROKEN_EVERY) % len(broken)].replace("{i}", str(i)) + "\n")
                rejected += 1
                continue
            record = {
                "username": f"user{i:07}",
                "email": f"user{i:07}@example.com",
                "password_hash": pool[i % len(pool)],
            }
            out.write(json.dumps(record) + "\n")
    return rejected


def run_import(source: Path, database_url: str, rejects: Path) -> dict[str, float | int | str]:
    env = {**os.environ, "AUTHGATE_DATABASE_URL": database_url, "AUTHGATE_LOG_LEVEL": "warning"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "authgate", "import-users", str(source), "--rejects", str(rejects), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 3):
        raise RuntimeError(f"import-users exited with {done.returncode}:\n{done.stderr[-3000:]}")
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "peak_rss_mib": round(after.ru_maxrss / 1024),
        "summary": done.stdout.strip().splitlines()[0],
    }


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def measure(target: str, source: Path, work: Path) -> dict[str, object]:
    admin = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"authgate_import_bench_{uuid.uuid4().hex[:8]}"
    if target == "sqlite":
        url = f"sqlite:///{work}/{name}.db"
    else:
        asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
        url = f"{admin.rsplit('/', 1)[0]}/{name}"
    try:
        first = run_import(source, url, work / f"{target}-rejects-1.jsonl")
        again = run_import(source, url, work / f"{target}-rejects-2.jsonl")
    finally:
        if target == "postgres":
            asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return {"target": target, "first": first, "again": again}


def report(users: int, rejected: int, size: int, results: list[dict[str, object]], load: str) -> str:
    lines = [
        f"# authgate import-users: {users:,} users from JSON Lines ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"`python bench/import_users.py --users {users}`: one user per line ({size / 2**20:,.0f} MiB), hashes in "
        f"every accepted format, {rejected:,} broken lines (1 in {BROKEN_EVERY}). Defaults: batches of 5,000, "
        "one transaction each. A fresh database per target; each import runs twice, the second finding every "
        "user already there.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other work "
        f"(load average before: {load}); Python {platform.python_version()}.",
        "",
        "| target | run | wall | CPU (command) | rows/s | peak RSS | summary |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for run in ("first", "again"):
            r = result[run]
            assert isinstance(r, dict)
            lines.append(
                f"| {result['target']} | {run} | {r['wall_s']} s | {r['cpu_s']} s | {users / r['wall_s']:,.0f} | "
                f"{r['peak_rss_mib']} MiB | {r['summary']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--targets", default="sqlite,postgres")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="authgate-import-bench-") as tmp:
        work = Path(tmp)
        source = work / "users.jsonl"
        rejected = write_source(source, args.users)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        results = [measure(t, source, work) for t in args.targets.split(",")]
        text = report(args.users, rejected, source.stat().st_size, results, load)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"import-{datetime.now(UTC):%Y-%m-%d}.md"
    path.write_text(text)
    print(text)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
