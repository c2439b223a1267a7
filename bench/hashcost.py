"""The cost of one argon2id hash on this machine, with authgate's parameters: what bounds logins per core.

A login verifies one password, so no server can log in more than cores / (time of one hash) users per
second. Measured here for both implementations in the comparison: argon2-cffi (libargon2, C, what authgate
uses) and golang.org/x/crypto/argon2 (what the Gin reference uses).

A VM's speed drifts during a run (one hash took 32 ms at the start of a run and 40 to 45 ms a quarter of an hour
later on the same host), so the login scenario also measures it on the server's own CPUs just before and after each of
its measurements (`beside`): `python bench/hashcost.py --samples N` prints argon2-cffi's median ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from argon2 import low_level

MEMORY_KIB, TIME_COST, PARALLELISM = 19456, 2, 1
KEYCLOAK_LOGINS_PER_VCPU = 15
KEYCLOAK_SOURCE = "https://www.keycloak.org/high-availability/concepts-memory-and-cpu-sizing"


def argon2_cffi_ms(samples: int) -> float:
    times = []
    for i in range(samples):
        started = time.perf_counter()
        low_level.hash_secret_raw(
            b"Bench-Password-7f3a", i.to_bytes(16, "big"), time_cost=TIME_COST, memory_cost=MEMORY_KIB,
            parallelism=PARALLELISM, hash_len=32, type=low_level.Type.ID,
        )
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def go_ms(gin_real: Path, samples: int) -> float:
    result = subprocess.run(
        [str(gin_real), "-n", str(samples), "hash-cost"], capture_output=True, text=True, check=True
    )
    return float(json.loads(result.stdout)["median_ms"])


def measure(gin_real: Path, samples: int) -> dict[str, float]:
    """Median ms of one hash with each implementation."""
    return {"argon2_cffi_ms": argon2_cffi_ms(samples), "go_x_crypto_ms": go_ms(gin_real, samples)}


def beside(impl: str, cpus: str | None, gin_real: Path, samples: int) -> float:
    """Median ms of one hash with `impl` ("argon2_cffi" or "go_x_crypto"), measured in a process of its own on
    `cpus` (None: anywhere), as the server's hashing threads run."""
    pin = ["taskset", "-c", cpus] if cpus is not None else []
    if impl == "go_x_crypto":
        argv = [*pin, str(gin_real), "-n", str(samples), "hash-cost"]
    else:
        argv = [*pin, sys.executable, __file__, "--samples", str(samples)]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    return float(json.loads(result.stdout)["median_ms"])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="argon2-cffi's median ms of one hash, as JSON")
    parser.add_argument("--samples", type=int, default=20)
    print(json.dumps({"median_ms": argon2_cffi_ms(parser.parse_args().samples)}))
