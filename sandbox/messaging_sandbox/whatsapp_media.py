"""WhatsApp media as the Cloud API serves it: upload, look up, download.

From Meta's media reference and its supported-media table: ``POST /{phone-number-id}/media`` takes
multipart form data (``file``, ``type`` = the MIME type, ``messaging_product=whatsapp``) and
answers ``{"id": ...}``; ``GET /{media-id}`` answers ``url``, ``mime_type``, ``sha256``,
``file_size``, ``id``; the URL is fetched with the same Bearer token. Uploads of a type WhatsApp
does not take are refused with code 100 ("Param file must be a file with one of the following
types: ..."), files over the limit for their type with code 100 ("File Too Large").
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

KB, MB = 1024, 1024 * 1024
# MIME type -> largest file Meta takes of it (its supported-media table)
LIMITS: dict[str, int] = {
    "audio/aac": 16 * MB, "audio/amr": 16 * MB, "audio/mpeg": 16 * MB, "audio/mp4": 16 * MB,
    "audio/ogg": 16 * MB, "audio/opus": 16 * MB,
    "application/vnd.ms-powerpoint": 100 * MB, "application/msword": 100 * MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 100 * MB,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": 100 * MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 100 * MB,
    "application/pdf": 100 * MB, "text/plain": 100 * MB, "application/vnd.ms-excel": 100 * MB,
    "image/jpeg": 5 * MB, "image/png": 5 * MB, "image/webp": 500 * KB,  # webp: stickers
    "video/mp4": 16 * MB, "video/3gpp": 16 * MB,
}  # fmt: skip
ACCEPTED_TEXT = ", ".join(LIMITS)


@dataclass(frozen=True)
class StoredMedia:
    media_id: str
    content: bytes
    mime_type: str
    filename: str | None
    sha256: str
    uploaded_at: float

    def info(self, url: str) -> dict[str, object]:
        return {"messaging_product": "whatsapp", "url": url, "mime_type": self.mime_type,
                "sha256": self.sha256, "file_size": len(self.content), "id": self.media_id}  # fmt: skip


class MediaStore:
    """Uploaded and inbound files, in memory, by media id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, StoredMedia] = {}

    def add(self, content: bytes, mime_type: str, filename: str | None) -> StoredMedia:
        media = StoredMedia(
            str(10**15 + secrets.randbelow(9 * 10**15)), content, mime_type, filename,
            hashlib.sha256(content).hexdigest(), time.time(),
        )  # fmt: skip
        with self._lock:
            self._files[media.media_id] = media
        return media

    def get(self, media_id: str) -> StoredMedia | None:
        return self._files.get(media_id)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


def refusal(mime_type: str, size: int) -> str | None:
    """Why Meta would refuse this upload, in its words; None when it would take it."""
    limit = LIMITS.get(mime_type.split(";")[0].strip().lower())
    if limit is None:
        return (
            f"Param file must be a file with one of the following types: {ACCEPTED_TEXT}. "
            f"Received file of type '{mime_type}'."
        )
    if size > limit:
        return "File Too Large: The file you uploaded is too large"
    return None
