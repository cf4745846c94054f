"""ComfyUI's folder layout: input, output, temp, user and the model folders, and how names resolve in them.

Everything here takes a `Folders` value explicitly; there is no module-level state. Stdlib only, because
the torch-free server imports this module too.
"""

from __future__ import annotations

import mimetypes
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

MODEL_EXTENSIONS = frozenset({".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"})

# Folder name -> subfolders of models/ searched for it, in search order (ComfyUI's names and order).
_MODEL_SUBFOLDERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "checkpoints": ("checkpoints",),
        "configs": ("configs",),
        "loras": ("loras",),
        "vae": ("vae",),
        "text_encoders": ("text_encoders", "clip"),
        "diffusion_models": ("unet", "diffusion_models"),
        "clip_vision": ("clip_vision",),
        "style_models": ("style_models",),
        "embeddings": ("embeddings",),
        "diffusers": ("diffusers",),
        "vae_approx": ("vae_approx",),
        "controlnet": ("controlnet", "t2i_adapter"),
        "gligen": ("gligen",),
        "upscale_models": ("upscale_models",),
        "hypernetworks": ("hypernetworks",),
        "photomaker": ("photomaker",),
        "classifiers": ("classifiers",),
        "model_patches": ("model_patches",),
        "audio_encoders": ("audio_encoders",),
    }
)

# Extension sets that differ from MODEL_EXTENSIONS; folders added at run time accept every file (None).
_SPECIAL_EXTENSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {"configs": frozenset({".yaml"}), "diffusers": frozenset({"folder"}), "classifiers": frozenset({""})}
)

# Older folder names that ComfyUI still accepts.
LEGACY_FOLDER_NAMES: Mapping[str, str] = MappingProxyType({"unet": "diffusion_models", "clip": "text_encoders"})

FolderType = Literal["input", "output", "temp"]
_ANNOTATIONS: tuple[tuple[str, FolderType], ...] = (
    (" [output]", "output"),
    (" [input]", "input"),
    (" [temp]", "temp"),
)


class PathEscapeError(ValueError):
    """A name resolves to a path outside the folder it must stay in."""

    def __init__(self, name: str, root: Path | str) -> None:
        super().__init__(f"{name!r} resolves outside the folder {str(root)!r}")
        self.name = name
        self.root = Path(root)


@dataclass(frozen=True, slots=True)
class Folders:
    """Where impasto reads and writes files. Build it with `from_base`; it never changes afterwards."""

    base: Path
    input: Path
    output: Path
    temp: Path
    user: Path
    models: Path
    model_folders: Mapping[str, tuple[Path, ...]] = field(hash=False)  # a read-only mapping is unhashable
    custom_nodes: tuple[Path, ...]

    @classmethod
    def from_base(
        cls,
        base: Path | str,
        *,
        input: Path | str | None = None,
        output: Path | str | None = None,
        temp: Path | str | None = None,
        user: Path | str | None = None,
    ) -> Folders:
        """The layout under `base`; the keyword overrides act as `--input-directory` and its siblings."""
        root = _absolute(base)
        models = root / "models"
        model_folders = {name: tuple(models / sub for sub in subs) for name, subs in _MODEL_SUBFOLDERS.items()}
        return cls(
            base=root,
            input=root / "input" if input is None else _absolute(input),
            output=root / "output" if output is None else _absolute(output),
            temp=root / "temp" if temp is None else _absolute(temp),
            user=root / "user" if user is None else _absolute(user),
            models=models,
            model_folders=MappingProxyType(model_folders),
            custom_nodes=(root / "custom_nodes",),
        )

    def with_model_paths(self, folder_name: str, paths: Iterable[Path | str], *, first: bool = False) -> Folders:
        """A copy with `paths` added to a model folder (or `custom_nodes`), appended or, with `first`, in front.

        A path already searched is not repeated; with `first` it moves to the front. An unknown folder name
        creates a new folder that accepts files of any extension.
        """
        name = LEGACY_FOLDER_NAMES.get(folder_name, folder_name)
        added = [_absolute(p) for p in paths]
        current = self.custom_nodes if name == "custom_nodes" else self.model_folders.get(name, ())
        ordered = [*added, *current] if first else [*current, *added]
        merged = tuple(dict.fromkeys(ordered))
        if name == "custom_nodes":
            return replace(self, custom_nodes=merged)
        return replace(self, model_folders=MappingProxyType({**self.model_folders, name: merged}))

    def __reduce__(self) -> tuple[Any, ...]:
        # Settings travel to spawned worker processes by pickle; a mappingproxy does not pickle.
        fields = (self.base, self.input, self.output, self.temp, self.user, self.models)
        return (_rebuild_folders, (*fields, dict(self.model_folders), self.custom_nodes))

    def ensure(self) -> None:
        """Create the input, output, temp and user folders if they are missing."""
        for folder in (self.input, self.output, self.temp, self.user):
            folder.mkdir(parents=True, exist_ok=True)

    def folder(self, kind: FolderType) -> Path:
        """The input, output or temp folder by its ComfyUI `type` name."""
        return {"input": self.input, "output": self.output, "temp": self.temp}[kind]


def _rebuild_folders(
    base: Path,
    input: Path,
    output: Path,
    temp: Path,
    user: Path,
    models: Path,
    model_folders: dict[str, tuple[Path, ...]],
    custom_nodes: tuple[Path, ...],
) -> Folders:
    return Folders(base, input, output, temp, user, models, MappingProxyType(model_folders), custom_nodes)


@dataclass(frozen=True, slots=True)
class SavePath:
    """Where the next images of a prefix go (ComfyUI's `get_save_image_path` result)."""

    folder: Path  # the full folder the files are written to
    filename: str  # the prefix's last component, tokens replaced
    counter: int  # the number the first new file gets
    subfolder: str  # the prefix's folder part, relative to the root ("" for none)
    prefix: str  # the whole prefix with tokens replaced


def model_folder_names(folders: Folders) -> list[str]:
    """The names of every model folder, in declaration order."""
    return list(folders.model_folders)


def model_paths(folders: Folders, folder_name: str) -> tuple[Path, ...]:
    """The directories searched for a model folder (legacy names accepted); empty when unknown."""
    return folders.model_folders.get(LEGACY_FOLDER_NAMES.get(folder_name, folder_name), ())


def folder_extensions(folder_name: str) -> frozenset[str] | None:
    """The lowercase extensions a model folder lists, or None when it lists every file."""
    name = LEGACY_FOLDER_NAMES.get(folder_name, folder_name)
    if name in _SPECIAL_EXTENSIONS:
        return _SPECIAL_EXTENSIONS[name]
    return MODEL_EXTENSIONS if name in _MODEL_SUBFOLDERS else None


def filename_list(folders: Folders, folder_name: str) -> list[str]:
    """Files under every directory of a model folder, as sorted, unique, relative POSIX names.

    Hidden files and directories are skipped, as are names whose extension the folder does not list.
    Missing directories contribute nothing.
    """
    extensions = folder_extensions(folder_name)
    found: set[str] = set()
    for root in model_paths(folders, folder_name):
        for relative in _walk_files(root):
            if extensions is None or os.path.splitext(relative)[1].lower() in extensions:
                found.add(relative)
    return sorted(found)


def full_path(folders: Folders, folder_name: str, filename: str) -> Path | None:
    """The first existing file named `filename` in a model folder, or None.

    Absolute names and names that climb out of the folder (`..`) are refused with None.
    """
    relative = _contained_relative(filename)
    if relative is None:
        return None
    for root in model_paths(folders, folder_name):
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


def input_images(folders: Folders) -> list[str]:
    """Sorted names of the image files directly in the input folder (by MIME type of the extension)."""
    try:
        entries = list(os.scandir(folders.input))
    except (FileNotFoundError, NotADirectoryError):
        return []
    names = [entry.name for entry in entries if entry.is_file() and _is_image_name(entry.name)]
    return sorted(names)


def split_annotation(name: str) -> tuple[str, FolderType | None]:
    """Strip a trailing ` [input]`, ` [output]` or ` [temp]`, returning the bare name and that folder type."""
    for suffix, kind in _ANNOTATIONS:
        if name.endswith(suffix):
            return name[: -len(suffix)], kind
    return name, None


def annotated_path(folders: Folders, name: str, default: FolderType = "input") -> Path:
    """The file a possibly annotated name refers to (`a.png [output]`); unannotated names use `default`.

    Raises:
        PathEscapeError: the name resolves outside its folder.
    """
    bare, kind = split_annotation(name)
    root = folders.folder(kind or default)
    target = os.path.normpath(os.path.join(root, bare))
    if not _is_within(target, root):
        raise PathEscapeError(name, root)
    return Path(target)


def save_path(
    folders_root: Path,
    filename_prefix: str,
    width: int,
    height: int,
    *,
    now: time.struct_time | None = None,
) -> SavePath:
    """Resolve a SaveImage prefix: replace tokens, split off the subfolder, find the next free counter.

    `%width%`, `%height%` and the local-time tokens `%year%` ... `%second%` are replaced (`now` defaults to
    the current local time). The counter is one more than the highest `<filename>_<digits>_` already in the
    folder, or 1; a `%batch_num%` left in the name matches any batch number. The folder is created when
    missing.

    Raises:
        PathEscapeError: the prefix resolves outside `folders_root`.
    """
    prefix = _replace_tokens(filename_prefix, width, height, now) if "%" in filename_prefix else filename_prefix
    normalized = os.path.normpath(prefix)
    subfolder = os.path.dirname(normalized)
    filename = os.path.basename(normalized)
    root = os.path.abspath(folders_root)
    folder = os.path.abspath(os.path.join(root, subfolder))
    if not _is_within(folder, root):
        raise PathEscapeError(filename_prefix, root)
    counter = _next_counter(Path(folder), filename)
    return SavePath(folder=Path(folder), filename=filename, counter=counter, subfolder=subfolder, prefix=prefix)


def _replace_tokens(prefix: str, width: int, height: int, now: time.struct_time | None) -> str:
    t = time.localtime() if now is None else now
    values = {
        "%width%": str(width),
        "%height%": str(height),
        "%year%": str(t.tm_year),
        "%month%": f"{t.tm_mon:02d}",
        "%day%": f"{t.tm_mday:02d}",
        "%hour%": f"{t.tm_hour:02d}",
        "%minute%": f"{t.tm_min:02d}",
        "%second%": f"{t.tm_sec:02d}",
    }
    for token, value in values.items():
        prefix = prefix.replace(token, value)
    return prefix


# (folder, filename) -> (the folder's mtime right after this process last saved files of that name there,
# the next free counter). While the folder's mtime is unchanged nothing was added, removed or renamed in it,
# so the counter is known without listing a folder that may hold tens of thousands of images.
_NEXT_FREE: dict[tuple[str, str], tuple[int, int]] = {}
_NEXT_FREE_LIMIT = 1024


def _next_counter(folder: Path, filename: str) -> int:
    try:
        mtime = os.stat(folder).st_mtime_ns
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return 1
    known = _NEXT_FREE.get((str(folder), filename))
    if known is not None and known[0] == mtime:
        return known[1]
    return listed_counter(folder, filename)


def listed_counter(folder: Path, filename: str) -> int:
    """One more than the highest counter of `filename` in the folder, from a listing (0 files: 1)."""
    # `%batch_num%` is replaced per image only after the counter is chosen, so existing files carry a number
    # there; matching it as digits keeps a batch prefix from restarting at 1 and overwriting its own files.
    pattern = re.escape(filename).replace(re.escape("%batch_num%"), "[0-9]+")
    matcher = re.compile(pattern + r"_([0-9]+)(?:_|$)")
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return 1
    counters = [int(m.group(1)) for m in map(matcher.match, names) if m is not None]
    return max(counters, default=0) + 1


def note_saved(folder: Path, filename: str, next_counter: int) -> None:
    """Files of `filename` up to `next_counter - 1` were just written to `folder`: the next `save_path` of that
    name needs no listing while nothing else changes the folder. Writers create their files exclusively, so a
    change that lands in the same timestamp tick is still caught (as a clash) and never overwritten."""
    try:
        mtime = os.stat(folder).st_mtime_ns
    except OSError:
        return
    if len(_NEXT_FREE) >= _NEXT_FREE_LIMIT:
        _NEXT_FREE.clear()
    _NEXT_FREE[(str(folder), filename)] = (mtime, next_counter)


def _walk_files(root: Path) -> Iterator[str]:
    """Relative POSIX names of the non-hidden files under `root`, following links but never round a cycle."""
    if root.is_dir():
        yield from _walk_dir(root, "", frozenset({os.path.realpath(root)}))


def _walk_dir(directory: Path, prefix: str, ancestors: frozenset[str]) -> Iterator[str]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        relative = prefix + entry.name
        if entry.is_dir():
            # Only a link back to an ancestor is a cycle; two links to the same folder both list it.
            real = os.path.realpath(entry.path)
            if real not in ancestors:
                yield from _walk_dir(Path(entry.path), relative + "/", ancestors | {real})
        elif entry.is_file():
            yield relative


def _contained_relative(name: str) -> str | None:
    """`name` normalized, or None when it is empty, absolute, or climbs out of its folder."""
    if not name or os.path.isabs(name) or "\0" in name:
        return None
    normalized = os.path.normpath(name)
    if normalized == "." or normalized == ".." or normalized.startswith(".." + os.sep):
        return None
    return normalized


def _is_within(path: str | Path, root: str | Path) -> bool:
    root_str = os.path.abspath(root)
    return os.path.commonpath((root_str, os.path.abspath(path))) == root_str


def _is_image_name(name: str) -> bool:
    # ComfyUI treats .webp as an image even where the platform's MIME table lacks it.
    if name.lower().endswith(".webp"):
        return True
    mime, _ = mimetypes.guess_type(name, strict=False)
    return mime is not None and mime.startswith("image/")


def _absolute(path: Path | str) -> Path:
    # abspath, not resolve: normalizes `..` but keeps symlinked folders as the user named them.
    return Path(os.path.abspath(path))
