"""Fixtures for the SD1.x tests: tiny random reference models and their LDM-layout checkpoint, made once per
session (never downloaded)."""

from __future__ import annotations

import os

import pytest
import torch

from tests.support.tiny_sd import TinySD, make_tiny_sd

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> TinySD:
    with torch.no_grad():
        return make_tiny_sd(tmp_path_factory.mktemp("tiny_sd"))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)
