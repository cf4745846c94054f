"""ComfyUI's command-line flags, with ComfyUI's meanings, parsed once into Settings (http-api.md §8)."""

from __future__ import annotations

import argparse
from pathlib import Path

from impasto.config import Settings
from impasto.engine.cache import CacheMode, CacheSettings
from impasto.paths import Folders


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="impasto", description="A ComfyUI-compatible workflow runner.")
    parser.add_argument("--base-directory", type=Path, default=None, help="parent of input/, output/, temp/, ...")
    parser.add_argument("--output-directory", type=Path, default=None)
    parser.add_argument("--input-directory", type=Path, default=None)
    parser.add_argument("--temp-directory", type=Path, default=None)
    parser.add_argument("--user-directory", type=Path, default=None)
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache-classic", action="store_true", help="drop outputs the next run does not use")
    cache.add_argument("--cache-lru", type=int, metavar="N", default=None, help="keep at most N outputs")
    cache.add_argument("--cache-none", action="store_true", help="keep nothing between runs")
    cache.add_argument(
        "--cache-ram", type=float, nargs="?", const=-1.0, default=None, metavar="GB", help="evict below GB free RAM"
    )
    parser.add_argument("--disable-metadata", action="store_true", help="SaveImage writes no workflow metadata")
    parser.add_argument(
        "--verbose", nargs="?", const="DEBUG", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    )
    parser.add_argument("--workflow", type=Path, default=None, help="API-format workflow JSON to run headless")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    base = args.base_directory or Path.cwd()
    folders = Folders.from_base(
        base,
        input=args.input_directory,
        output=args.output_directory,
        temp=args.temp_directory,
        user=args.user_directory,
    )
    return Settings(folders=folders, cache=_cache(args), disable_metadata=args.disable_metadata, verbose=args.verbose)


def _cache(args: argparse.Namespace) -> CacheSettings:
    if args.cache_none:
        return CacheSettings(CacheMode.NONE)
    if args.cache_lru is not None:
        return CacheSettings(CacheMode.LRU, lru_size=args.cache_lru)
    if args.cache_ram is not None:
        return CacheSettings(CacheMode.RAM, ram_headroom_gb=None if args.cache_ram < 0 else args.cache_ram)
    return CacheSettings()
