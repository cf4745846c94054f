"""`--extra-model-paths-config`: ComfyUI's extra folder YAML (node-api.md §3, "Where packs are found")."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from impasto.paths import Folders


class ExtraPathsError(ValueError):
    """The YAML file cannot be read as an extra-paths configuration."""


def apply_extra_model_paths(folders: Folders, config: Path) -> Folders:
    """`folders` with every folder of the file added (`custom_nodes` entries included)."""
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ExtraPathsError(f"cannot read {config}: {exc}") from exc
    if data is None:
        return folders
    if not isinstance(data, dict):
        raise ExtraPathsError(f"{config}: expected sections of folder paths, found {type(data).__name__}")
    here = config.resolve().parent
    for name, section in data.items():
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ExtraPathsError(f"{config}: section {name!r} is not a mapping of folder paths")
        folders = _apply_section(folders, section, here)
    return folders


def _apply_section(folders: Folders, section: dict[str, Any], here: Path) -> Folders:
    base = here
    if section.get("base_path"):
        base = Path(os.path.expandvars(os.path.expanduser(str(section["base_path"]))))
        if not base.is_absolute():
            base = Path(os.path.normpath(here / base))
    first = bool(section.get("is_default", False))
    for key, value in section.items():
        if key in ("base_path", "is_default") or value is None:
            continue
        paths = [Path(os.path.normpath(base / line.strip())) for line in str(value).splitlines() if line.strip()]
        if key == "custom_nodes":
            folders = dataclasses.replace(folders, custom_nodes=(*folders.custom_nodes, *paths))
        else:
            folders = folders.with_model_paths(key, paths, first=first)
    return folders
