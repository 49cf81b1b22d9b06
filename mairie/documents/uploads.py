"""An upload handler that stops reading a file as soon as it passes the size limit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, TemporaryFileUploadHandler
from django.http import HttpRequest


class SizeLimitUploadHandler(FileUploadHandler):
    """Placed first: counts the bytes of each file and skips (never stores) one that is too large."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = settings.MAX_UPLOAD_MB * 1024 * 1024
        self.too_large: list[str] = []
        self._received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._received += len(raw_data)
        if self._received > self.limit:
            self.too_large.append(self.file_name or "fichier sans nom")
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def install_upload_handlers(request: HttpRequest) -> SizeLimitUploadHandler:
    """Call before touching request.POST/FILES: size check first, then spool to disk (never to memory)."""
    limiter = SizeLimitUploadHandler(request)
    request.upload_handlers = [limiter, TemporaryFileUploadHandler(request)]
    return limiter
