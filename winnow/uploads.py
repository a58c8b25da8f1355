"""Upload bodies capped while they are read, so nothing past the limit is spooled.

Django checks ``DATA_UPLOAD_MAX_MEMORY_SIZE`` for form fields only: file parts go
to the upload handlers, which would write every byte to a temporary file before
a view could look at its size. ``CappedUploadHandler`` comes first in
``FILE_UPLOAD_HANDLERS`` and refuses the body from its ``Content-Length`` before
reading any of it, or as soon as the file bytes actually received pass
``WINNOW_MAX_UPLOAD_BYTES`` (the header may be absent or lie).

The refusal is a ``RequestDataTooBig``, so wherever it surfaces (the CSRF check
reads the body of a page's form post before any view runs) Django answers 4xx,
never 500; ``bad_request`` (``handler400``) and the API's exception handler turn
it into a 413 saying the limit.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse
from django.views import defaults

# Multipart framing and the form's small fields around the file; fields are
# themselves capped by DATA_UPLOAD_MAX_MEMORY_SIZE as Django reads them.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadTooLarge(RequestDataTooBig):
    """An upload over WINNOW_MAX_UPLOAD_BYTES (HTTP 413); the message is for the user."""


def max_upload_bytes() -> int:
    return int(settings.WINNOW_MAX_UPLOAD_BYTES)


def too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(f"The upload is larger than the {limit}-byte limit.")


class CappedUploadHandler(FileUploadHandler):
    """Counts file bytes on their way to the next handler; stops the body past the cap."""

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = max_upload_bytes()
        self.received = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        if content_length and content_length > self.limit + MULTIPART_OVERHEAD_BYTES:
            raise too_large(self.limit)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._discard_partial_files()
            raise too_large(self.limit)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file

    def _discard_partial_files(self) -> None:
        # The temporary file the next handler started is deleted now, not whenever
        # the request is garbage-collected.
        handlers = self.request.upload_handlers if self.request is not None else []
        for handler in handlers:
            handler.upload_interrupted()


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler400``: a too-large upload is a 413 with its reason, the rest Django's 400."""
    if isinstance(exception, UploadTooLarge):
        return HttpResponse(str(exception), status=413, content_type="text/plain; charset=utf-8")
    return defaults.bad_request(request, exception)
