"""Artifact stores: where models, model cards and reports live, addressed by relative keys."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ArtifactNotFound(KeyError):
    """No artifact under that key."""


class ArtifactStore(Protocol):
    def write_bytes(self, key: str, data: bytes) -> None: ...

    def read_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]: ...

    def uri(self, key: str) -> str: ...


class LocalArtifactStore:
    """Artifacts as files under a root folder; writes are atomic (temp file, then rename)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"artifact key {key!r} leaves the store")
        return path

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise ArtifactNotFound(f"no artifact {key!r} in {self.root}")
        return path.read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self.root / prefix
        if not base.exists():
            return []
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file())

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()
