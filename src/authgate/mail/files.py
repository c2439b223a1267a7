"""Each mail as an .eml file in a folder (`AUTHGATE_MAIL_DIR`): development and tests without a mail server.

The files hold the links, tokens included: keep the folder private (it is made 0700).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

from authgate.domain.mail import MailMessage
from authgate.mail.mime import to_mime


class FileMailer:
    def __init__(self, folder: str | Path, *, sender: str) -> None:
        self.folder = Path(folder)
        self.sender = sender
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    async def send(self, message: MailMessage) -> None:
        data = to_mime(message, self.sender).as_bytes()
        name = f"{time.time_ns()}-{message.template or 'mail'}-{uuid.uuid4().hex[:8]}.eml"
        await asyncio.to_thread(self._write, name, data)

    def _write(self, name: str, data: bytes) -> None:
        partial = self.folder / f".{name}.part"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        partial.rename(self.folder / name)  # readers never see half a file
