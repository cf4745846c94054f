"""`folder_paths`: ComfyUI's folder registry as custom nodes use it (node-api.md §4.8).

The registry is filled from this process's folder layout (`impasto.nodes.settings`, configured from the flags
and `--extra-model-paths-config` before any pack is imported) and is then a plain module-level dict, as in
ComfyUI: packs add folders to it (`add_model_folder_path`, or by editing `folder_names_and_paths`) and every
lookup reads it afresh. File lists are computed on every call, so new files show up at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from impasto import paths
from impasto.nodes.settings import current as node_settings

_folders = node_settings().folders

supported_pt_extensions: set[str] = set(paths.MODEL_EXTENSIONS)

base_path = str(_folders.base)
models_dir = str(_folders.models)
output_directory = str(_folders.output)
temp_directory = str(_folders.temp)
input_directory = str(_folders.input)
user_directory = str(_folders.user)

# folder name -> ([directories], {extensions}); an empty extension set accepts every file (ComfyUI's rule).
folder_names_and_paths: dict[str, tuple[list[str], set[str]]] = {
    name: ([str(p) for p in folder_paths_], set(paths.folder_extensions(name) or ()))
    for name, folder_paths_ in _folders.model_folders.items()
}
folder_names_and_paths["custom_nodes"] = ([str(p) for p in _folders.custom_nodes], set())

_LEGACY = dict(paths.LEGACY_FOLDER_NAMES)


def map_legacy(folder_name: str) -> str:
    return _LEGACY.get(folder_name, folder_name)


def get_folder_paths(folder_name: str) -> list[str]:
    """The directories of a folder name (legacy names `unet`, `clip` accepted); KeyError when unknown."""
    return list(folder_names_and_paths[map_legacy(folder_name)][0])


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    """Add a directory to a folder name (created when unknown); `is_default` puts it first."""
    folder_name = map_legacy(folder_name)
    directories, _extensions = folder_names_and_paths.setdefault(folder_name, ([], set()))
    if full_folder_path in directories:
        if is_default:
            directories.remove(full_folder_path)
            directories.insert(0, full_folder_path)
    elif is_default:
        directories.insert(0, full_folder_path)
    else:
        directories.append(full_folder_path)


def filter_files_extensions(files: list[str], extensions: set[str] | list[str]) -> list[str]:
    wanted = {e.lower() for e in extensions}
    return sorted(f for f in files if not wanted or os.path.splitext(f)[1].lower() in wanted)


def recursive_search(directory: str, excluded_dir_names: list[str] | None = None) -> tuple[list[str], dict[str, float]]:
    """Relative POSIX names of the files under `directory` (hidden ones skipped), and the folders' mtimes."""
    excluded = set(excluded_dir_names or ()) | {".git"}
    files: list[str] = []
    mtimes: dict[str, float] = {}
    if not os.path.isdir(directory):
        return files, mtimes
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in excluded and not d.startswith("."))
        mtimes[dirpath] = os.path.getmtime(dirpath)
        relative = os.path.relpath(dirpath, directory)
        for name in sorted(filenames):
            if not name.startswith("."):
                files.append(name if relative == "." else Path(relative, name).as_posix())
    return files, mtimes


def get_filename_list(folder_name: str) -> list[str]:
    """Every file of a folder name's directories with one of its extensions: sorted, unique, relative names."""
    directories, extensions = folder_names_and_paths[map_legacy(folder_name)]
    found: set[str] = set()
    for directory in directories:
        files, _mtimes = recursive_search(directory)
        found.update(filter_files_extensions(files, extensions))
    return sorted(found)


def get_full_path(folder_name: str, filename: str) -> str | None:
    """The first existing file of that name in the folder name's directories; None when none (or it climbs out)."""
    folder_name = map_legacy(folder_name)
    if folder_name not in folder_names_and_paths:
        return None
    relative = os.path.normpath(filename)
    if not filename or os.path.isabs(relative) or relative == ".." or relative.startswith(".." + os.sep):
        return None
    for directory in folder_names_and_paths[folder_name][0]:
        candidate = os.path.join(directory, relative)
        if os.path.isfile(candidate):
            return candidate
    return None


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    found = get_full_path(folder_name, filename)
    if found is None:
        raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
    return found


def get_input_directory() -> str:
    return input_directory


def get_output_directory() -> str:
    return output_directory


def get_temp_directory() -> str:
    return temp_directory


def get_user_directory() -> str:
    return user_directory


def set_input_directory(directory: str) -> None:
    global input_directory
    input_directory = directory


def set_output_directory(directory: str) -> None:
    global output_directory
    output_directory = directory


def set_temp_directory(directory: str) -> None:
    global temp_directory
    temp_directory = directory


def get_directory_by_type(type_name: str) -> str | None:
    return {"output": output_directory, "temp": temp_directory, "input": input_directory}.get(type_name)


def annotated_filepath(name: str) -> tuple[str, str | None]:
    """A name without its ` [input]`/` [output]`/` [temp]` suffix, and the directory the suffix names."""
    bare, kind = paths.split_annotation(name)
    return bare, None if kind is None else get_directory_by_type(kind)


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    """The path a (possibly annotated) name refers to; unannotated names are in `default_dir` or the input folder."""
    bare, directory = annotated_filepath(name)
    if directory is None:
        directory = default_dir if default_dir is not None else get_input_directory()
    return os.path.join(directory, bare)


def exists_annotated_filepath(name: str) -> bool:
    return os.path.exists(get_annotated_filepath(name))


def get_save_image_path(
    filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
) -> tuple[str, str, int, str, str]:
    """(full folder, file name, next counter, subfolder, prefix) for SaveImage-style numbered files.

    Raises:
        ValueError: the prefix resolves outside `output_dir`.
    """
    try:
        found = paths.save_path(Path(output_dir), filename_prefix, image_width, image_height)
    except paths.PathEscapeError as exc:
        raise ValueError(f"Saving image outside the output folder is not allowed: {filename_prefix!r}") from exc
    return str(found.folder), found.filename, found.counter, found.subfolder, found.prefix
