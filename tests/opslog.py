"""Reading what the app logs, in process: its stdout handler's lines, and the access log's."""

from __future__ import annotations

import io
import json
import logging
from typing import Any


def app_log_stream() -> io.StringIO:
    """Point the app's stdout log handler at a buffer (it keeps the stdout it found at start, which pytest's
    capture may have replaced since) and return the buffer."""
    buffer = io.StringIO()
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_authgate", False)]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    return buffer


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
