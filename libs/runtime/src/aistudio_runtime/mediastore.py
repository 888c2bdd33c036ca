"""Our own custody of generated media: provider URLs expire, ours do not.

Keys look like `2026/11/<asset id>.png`. The local store writes atomically (temp file, then
rename), so a reader never sees half a file and a repeated put of the same key is harmless.
"""

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Protocol


class MediaStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    def local_path(self, key: str) -> Path | None: ...


class LocalMediaStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"invalid media key: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes | None:
        path = self._path(key)
        return await asyncio.to_thread(lambda: path.read_bytes() if path.exists() else None)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.exists() else None


_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
}


def media_key(asset_id: object, content_type: str, *, year: int, month: int) -> str:
    """Where an asset's media lives in our store: `YYYY/MM/<asset id>.<ext>`."""
    extension = _EXTENSIONS.get(content_type.split(";")[0].strip().lower(), "bin")
    return f"{year:04d}/{month:02d}/{asset_id}.{extension}"
