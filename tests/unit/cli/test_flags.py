"""The impasto command's flags: ComfyUI's names and meanings, parsed once into Settings."""

from __future__ import annotations

import pytest

from impasto.cli import main
from impasto.cli.flags import build_parser, settings_from_args
from impasto.engine.cache import CacheMode
from impasto.paths_yaml import ExtraPathsError, apply_extra_model_paths
from impasto.server.main import StartupError, check_listen


def settings_for(*argv: str):
    return settings_from_args(build_parser().parse_args(list(argv)))


def test_defaults_match_comfyui(tmp_path):
    settings = settings_for("--base-directory", str(tmp_path))
    assert settings.listen == ("127.0.0.1",) and settings.port == 8188
    assert settings.folders.output == tmp_path / "output"
    assert settings.cache.mode is CacheMode.CLASSIC
    assert settings.max_upload_bytes == 100 * 1024 * 1024


def test_folder_cache_and_network_flags(tmp_path):
    settings = settings_for(
        "--base-directory", str(tmp_path), "--output-directory", str(tmp_path / "out"),
        "--cache-lru", "8", "--listen", "--port", "9000", "--enable-cors-header", "--max-upload-size", "2",
    )  # fmt: skip
    assert settings.folders.output == tmp_path / "out"
    assert settings.cache.mode is CacheMode.LRU and settings.cache.lru_size == 8
    assert settings.listen == ("0.0.0.0", "::") and settings.port == 9000
    assert settings.enable_cors_header == "*"
    assert settings.max_upload_bytes == 2 * 1024 * 1024
    assert settings_for("--cache-ram").cache.mode is CacheMode.RAM
    assert settings_for("--cache-none").cache.mode is CacheMode.NONE


def test_an_unknown_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--no-such-flag"])
    assert exit_info.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err


def test_exclusive_cache_flags_are_refused():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--cache-none", "--cache-lru", "3"])


def test_a_remote_address_needs_an_explicit_choice(tmp_path):
    with pytest.raises(StartupError, match="allow-remote"):
        check_listen(settings_for("--listen", "0.0.0.0"))
    check_listen(settings_for("--listen", "0.0.0.0", "--allow-remote"))
    check_listen(settings_for("--listen", "127.0.0.1,::1"))


def test_extra_model_paths_yaml_adds_folders_and_custom_nodes(tmp_path):
    (tmp_path / "conf").mkdir()
    config = tmp_path / "conf" / "extra.yaml"
    config.write_text(
        "testing:\n"
        "  base_path: ../shared\n"
        "  checkpoints: |\n    ckpts\n    more_ckpts\n"
        "  custom_nodes: testing_nodes\n"
        "other:\n"
        "  loras: /abs/loras\n"
        "  is_default: true\n"
    )
    settings = settings_for("--base-directory", str(tmp_path), "--extra-model-paths-config", str(config))
    shared = (tmp_path / "shared").resolve()
    assert settings.folders.model_folders["checkpoints"][-2:] == (shared / "ckpts", shared / "more_ckpts")
    assert settings.folders.custom_nodes[-1] == shared / "testing_nodes"
    assert settings.folders.model_folders["loras"][0].as_posix() == "/abs/loras"


def test_a_malformed_yaml_is_a_clear_error(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("- just\n- a list\n")
    with pytest.raises(ExtraPathsError, match="expected sections"):
        apply_extra_model_paths(settings_for("--base-directory", str(tmp_path)).folders, config)
