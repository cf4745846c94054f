"""impasto's own batch loops are interrupt points: a cancel stops them between images (execution.md §9)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import torch

from impasto.engine.cancel import CancelToken, Interrupted
from impasto.engine.context import check_interrupt, running
from impasto.nodes.image import ImageScale
from impasto.nodes.image_io import SaveImage
from impasto.nodes.postprocessing import ImageQuantize
from impasto.paths import Folders


@dataclass
class Run:
    """A run as node code sees it (the `RunScope` protocol), with a real cancellation token."""

    prompt_id: str = "p"
    client_id: str | None = None
    token: CancelToken = field(default_factory=CancelToken)

    def report_progress(self, node_id: str, value: float, total: float, preview: object = None) -> None:
        self.token.raise_if_cancelled()


@pytest.fixture
def cancelled() -> Iterator[Run]:
    run = Run()
    run.token.cancel()
    with running(run):
        yield run


def test_outside_a_job_the_check_does_nothing() -> None:
    check_interrupt()


def test_a_cancelled_save_writes_no_file(folders: Folders, cancelled: Run) -> None:
    with pytest.raises(Interrupted):
        SaveImage().save_images(torch.zeros(3, 4, 4, 3), "ComfyUI")
    assert list(folders.output.iterdir()) == []


def test_lanczos_scaling_and_quantizing_stop_between_images(cancelled: Run) -> None:
    with pytest.raises(Interrupted):
        ImageScale().upscale(torch.zeros(2, 8, 8, 3), "lanczos", 4, 4, "disabled")
    with pytest.raises(Interrupted):
        ImageQuantize().quantize(torch.zeros(2, 8, 8, 3), 4, "none")


def test_a_running_job_without_a_cancel_is_not_stopped(folders: Folders) -> None:
    with running(Run()):
        result = SaveImage().save_images(torch.zeros(2, 4, 4, 3), "ComfyUI")
    assert len(result["ui"]["images"]) == 2
