"""The files a job produced: named as the server stores them, and optionally copied with `--output DIR`.

Files are fetched through `GET /view`, so copying works the same from a remote server and from the
embedded one; a copy never overwrites an existing file (a counter is added to the name instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.cli.client import Server
from impasto.cli.output import CommandError
from impasto.paths import Folders


@dataclass(frozen=True, slots=True)
class OutputFile:
    node: str
    filename: str
    subfolder: str
    type: str  # output, temp or input
    path: str  # where it is: a local path for the embedded server, else type/subfolder/filename
    copied_to: str | None = None

    def json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "filename": self.filename,
            "subfolder": self.subfolder,
            "type": self.type,
            "path": self.path,
            "copied_to": self.copied_to,
        }


def output_files(outputs: Mapping[str, Any], folders: Folders | None) -> list[OutputFile]:
    """Every file the outputs name (images, and any other list of `{filename, subfolder, type}`)."""
    files = []
    for node_id, ui in outputs.items():
        for items in ui.values() if isinstance(ui, dict) else ():
            for item in items if isinstance(items, list) else ():
                if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
                    continue
                kind, subfolder = str(item.get("type", "output")), str(item.get("subfolder") or "")
                files.append(OutputFile(node_id, item["filename"], subfolder, kind, _where(item, folders)))
    return files


def _where(item: Mapping[str, Any], folders: Folders | None) -> str:
    kind, subfolder, filename = str(item.get("type", "output")), str(item.get("subfolder") or ""), item["filename"]
    if folders is not None:
        base = {"output": folders.output, "temp": folders.temp, "input": folders.input}.get(kind, folders.output)
        return str(Path(base, subfolder, filename))
    return "/".join(part for part in (kind, subfolder, filename) if part)


class Copier:
    """Copies a run's files into one folder; a file several jobs name (a cached re-run) is copied once."""

    def __init__(self, server: Server, directory: Path) -> None:
        self.server = server
        self.directory = directory
        self._done: dict[tuple[str, str, str], str] = {}

    async def copy(self, files: list[OutputFile]) -> list[OutputFile]:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create --output {self.directory}: {exc.strerror or exc}") from None
        copied = []
        for file in files:
            key = (file.type, file.subfolder, file.filename)
            if key not in self._done:
                params = {"filename": file.filename, "subfolder": file.subfolder, "type": file.type}
                data = await self.server.download("/view", params)
                target = _free_name(self.directory / Path(file.filename).name)
                try:
                    target.write_bytes(data)
                except OSError as exc:
                    raise CommandError(f"cannot write {target}: {exc.strerror or exc}") from None
                self._done[key] = str(target)
            copied.append(
                OutputFile(file.node, file.filename, file.subfolder, file.type, file.path, copied_to=self._done[key])
            )
        return copied


def _free_name(path: Path) -> Path:
    candidate, counter = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    return candidate
