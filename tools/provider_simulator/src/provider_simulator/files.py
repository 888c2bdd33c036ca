"""Result files served from the simulator's own URLs, expiring like KIE's do."""

import secrets
import time
from dataclasses import dataclass

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "video/mp4": "mp4"}


@dataclass(frozen=True, slots=True)
class StoredFile:
    file_id: str
    data: bytes
    content_type: str
    expires_at: float  # time.monotonic()

    @property
    def name(self) -> str:
        return f"{self.file_id}.{_EXTENSIONS.get(self.content_type, 'bin')}"


class FileStore:
    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    def put(self, data: bytes, content_type: str, ttl_seconds: float) -> StoredFile:
        stored = StoredFile(secrets.token_hex(16), data, content_type, time.monotonic() + ttl_seconds)
        self._files[stored.file_id] = stored
        return stored

    def get(self, name: str) -> StoredFile | None:
        """By `id.ext`; an expired file is gone for good, as on KIE's CDN."""
        file_id = name.partition(".")[0]
        stored = self._files.get(file_id)
        if stored is None or stored.name != name:
            return None
        if time.monotonic() >= stored.expires_at:
            del self._files[file_id]
            return None
        return stored

    def clear(self) -> None:
        self._files.clear()

    def __len__(self) -> int:
        return len(self._files)
