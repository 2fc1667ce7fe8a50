"""Files a pipeline sends on WhatsApp: which kinds Meta takes, in which formats, up to which size.

A file is uploaded once (``POST /{phone-number-id}/media``) and sent by its media id, so a private
data platform needs no public URL and Meta's link fetcher (and its 131053 refusals) is out of the
way. Everything is checked here before the upload: the kind, the file's type for that kind and
its size against Meta's limits (the supported-media table of the Cloud API reference).

A file is a local path or any path object with ``open("rb")``, ``name`` and ``stat()`` or
``size()``, such as Airflow's ``ObjectStoragePath`` (S3, GCS, ... through fsspec).
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..core.errors import ValidationError
from .messages import Media

KB, MB = 1024, 1024 * 1024


@dataclass(frozen=True)
class MediaKind:
    name: str
    mime_types: tuple[str, ...]
    max_bytes: int


MEDIA_KINDS: Mapping[str, MediaKind] = {
    kind.name: kind
    for kind in (
        MediaKind("image", ("image/jpeg", "image/png"), 5 * MB),
        # Meta: audio/ogg only with the OPUS codec (a voice note), which a file name cannot tell
        MediaKind("audio", ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"), 16 * MB),
        MediaKind("video", ("video/mp4", "video/3gpp"), 16 * MB),
        MediaKind(
            "document",
            (
                "application/pdf",
                "text/plain",
                "application/msword",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.ms-excel",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "application/vnd.ms-powerpoint",
                "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ),
            100 * MB,
        ),
        # 100 KB static, 500 KB animated: the file's name cannot tell which, so the larger bound
        MediaKind("sticker", ("image/webp",), 500 * KB),
    )
}
# a template's media header: one of three kinds, and a document must be a PDF
TEMPLATE_HEADER_KINDS = {"image": ("image/jpeg", "image/png"), "video": ("video/mp4", "video/3gpp"),
                         "document": ("application/pdf",)}  # fmt: skip
# extensions the standard library does not map (or maps to another name than Meta's)
_EXTRA_TYPES = {".amr": "audio/amr", ".aac": "audio/aac", ".m4a": "audio/mp4", ".ogg": "audio/ogg",
                ".opus": "audio/ogg", ".3gp": "video/3gpp", ".webp": "image/webp", ".mp3": "audio/mpeg"}  # fmt: skip
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "audio/ogg": ".ogg",
              "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/aac": ".aac", "audio/amr": ".amr",
              "video/mp4": ".mp4", "video/3gpp": ".3gp", "application/pdf": ".pdf", "text/plain": ".txt"}  # fmt: skip


def _size_text(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size / KB:.0f} KB"


def media_kind(name: str | None, field: str = "media_kind") -> MediaKind:
    if name not in MEDIA_KINDS:
        raise ValidationError(
            field, f"{name!r} is not a WhatsApp media kind", f"Use one of {', '.join(MEDIA_KINDS)}"
        )
    return MEDIA_KINDS[str(name)]


def mime_type_of(filename: str) -> str | None:
    suffix = PurePosixPath(filename).suffix.lower()
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(filename, strict=False)[0]


def kind_for(mime_type: str) -> MediaKind | None:
    """The kind a file of this type is sent as when no kind is given (a PNG as an image...)."""
    return next((kind for kind in MEDIA_KINDS.values() if mime_type in kind.mime_types), None)


@dataclass(frozen=True)
class MediaFile:
    """A file checked against the limits of the kind it is sent as, ready to upload."""

    source: Any  # a pathlib.Path or a path object with open("rb")
    filename: str
    mime_type: str
    size: int
    kind: str

    def open(self) -> IO[bytes]:
        handle: IO[bytes] = self.source.open("rb")
        return handle

    def describe(self) -> str:
        return f"{self.filename} ({self.mime_type}, {_size_text(self.size)})"

    def message(self, media_id: str, *, caption: str | None = None, filename: str | None = None) -> Media:
        """The message that sends this file by ``media_id``; a document keeps its file name."""
        return Media(
            self.kind, media_id=media_id, caption=caption,
            filename=(filename or self.filename) if self.kind == "document" else None,
            uploaded_from=f"{self.filename} ({self.size} bytes)",
        )  # fmt: skip


def _file_size(source: Any, shown: str, field: str) -> int:
    try:
        if hasattr(source, "size") and callable(source.size):  # ObjectStoragePath and its kin
            return int(source.size())
        info = source.stat()
        return int(info["size"] if isinstance(info, Mapping) else info.st_size)
    except (FileNotFoundError, NotADirectoryError):
        raise ValidationError(
            field, f"{shown} does not exist", "Check the path; the file must exist when the task runs"
        ) from None
    except OSError as exc:
        raise ValidationError(
            field, f"{shown} cannot be read ({exc})", "Check the path and its permissions"
        ) from None


def media_file(
    path: Any,
    kind: str | None = None,
    *,
    field: str = "media_path",
    allowed: Mapping[str, tuple[str, ...]] | None = None,
) -> MediaFile:
    """``path`` checked for sending as ``kind`` (default: the kind its type implies).

    ``allowed`` narrows kinds and types further (a template header takes fewer than a message).
    """
    if path is None or (isinstance(path, str) and not path.strip()):
        raise ValidationError(field, "no file given", "Pass a local path or an ObjectStoragePath")
    source = Path(path) if isinstance(path, (str, os.PathLike)) else path
    shown = str(path)
    size = _file_size(source, shown, field)
    if isinstance(source, Path) and source.is_dir():
        raise ValidationError(field, f"{shown} is a directory", "Name the file to send")
    filename = str(getattr(source, "name", "") or PurePosixPath(shown).name)
    mime_type = mime_type_of(filename) or "application/octet-stream"
    chosen = media_kind(kind, "media_kind") if kind is not None else kind_for(mime_type)
    if chosen is None:
        raise ValidationError(
            field,
            f"{filename} is {mime_type}, which WhatsApp does not take",
            "Send a PDF, an Office document, text, JPEG/PNG, MP4/3GP, AAC/AMR/MP3/M4A/OGG or WebP",
        )
    types = chosen.mime_types
    if allowed is not None:
        if chosen.name not in allowed:
            raise ValidationError(
                "media_kind", f"{chosen.name} cannot be used here", f"Use one of {', '.join(allowed)}"
            )
        types = tuple(t for t in types if t in allowed[chosen.name])
    if mime_type not in types:
        raise ValidationError(
            field,
            f"{filename} is {mime_type}, which WhatsApp does not take as {chosen.name}",
            f"Send {', '.join(types)} as {chosen.name}"
            + (" (or send the file as a document)" if chosen.name != "document" else ""),
        )
    if size == 0:
        raise ValidationError(field, f"{filename} is empty", "Check that the file was written completely")
    if size > chosen.max_bytes:
        bigger = (
            " (or send it as a document, up to 100 MB)" if chosen.name in ("image", "video", "audio") else ""
        )
        raise ValidationError(
            field,
            f"{filename} is {_size_text(size)}, over WhatsApp's {_size_text(chosen.max_bytes)} limit for {chosen.name}",
            f"Make the file smaller{bigger}",
        )
    return MediaFile(source, filename, mime_type, size, chosen.name)


def extension_for(mime_type: str | None) -> str:
    if not mime_type:
        return ""
    base = mime_type.split(";")[0].strip()
    return EXTENSIONS.get(base) or mimetypes.guess_extension(base) or ""
