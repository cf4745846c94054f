"""Settings: built once from flags and environment, passed down explicitly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from impasto.engine.cache import CacheSettings
from impasto.paths import Folders


@dataclass(frozen=True, slots=True)
class Settings:
    folders: Folders
    cache: CacheSettings = field(default_factory=CacheSettings)
    disable_metadata: bool = False
    verbose: str = "INFO"

    @classmethod
    def defaults(cls, base: Path | None = None) -> Settings:
        return cls(folders=Folders.from_base(base or Path.cwd()))
