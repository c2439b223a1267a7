"""Structured logs: one JSON line per event on stdout (or readable lines with `AUTHGATE_LOG_FORMAT=console`).

Application and security events go through the standard `logging` module with a JSON formatter; the access
log, one line per request, bypasses it for speed: records are encoded by msgspec and written in batches.
Nothing here ever logs a password, a token, a cookie or an Authorization header: callers pass only the
fields they mean to log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from authgate.http.request import Request

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_encoder = msgspec.json.Encoder()
PIPE_BUF = 4096


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "timestamp": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(data).decode("utf-8", "replace")


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")
        )
        line = f"{_iso(record.created)} {record.levelname:<7} {record.name}: {record.getMessage()} {extra}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(log_format: str = "json", level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_authgate", False):
            root.removeHandler(existing)
    handler._authgate = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())


class AccessRecord(msgspec.Struct, omit_defaults=True):
    timestamp: str
    request_id: str
    method: str
    route: str
    status: int
    duration_ms: float
    client_ip: str
    level: str = "info"
    event: str = "request"
    user_id: str | None = None


class AccessLog:
    """Buffers access-log lines and writes them in batches of whole lines (each write ≤ PIPE_BUF bytes,
    so lines from several worker processes sharing stdout never interleave)."""

    def __init__(self, fd: int = 1, console: bool = False, flush_interval: float = 0.05) -> None:
        self.fd = fd
        self.console = console
        self.flush_interval = flush_interval
        self._lines: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, req: Request, status: int, duration: float) -> None:
        if self.console:
            line = (
                f"{_iso(time.time())} {req.method} {req.route or '-'} {status} {duration * 1000:.1f}ms"
                f" ip={req.client_ip} rid={req.request_id}\n"
            ).encode()
        else:
            line = (
                _encoder.encode(
                    AccessRecord(
                        timestamp=_iso(time.time()),
                        request_id=req.request_id,
                        method=req.method,
                        route=req.route or "unmatched",
                        status=status,
                        duration_ms=round(duration * 1000, 3),
                        client_ip=req.client_ip,
                        user_id=req.user_id,
                    )
                )
                + b"\n"
            )
        self._lines.append(line)
        self._size += len(line)
        if self._size >= PIPE_BUF:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_later(self.flush_interval, self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        lines, self._lines, self._size = self._lines, [], 0
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) > PIPE_BUF:
                self._write(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        if chunk:
            self._write(b"".join(chunk))

    def _write(self, data: bytes) -> None:
        # stdout gone (closed pipe): dropping access lines beats failing requests
        with contextlib.suppress(OSError):
            os.write(self.fd, data)
