"""The frontend's default workflow (Load Checkpoint -> two CLIP Text Encode -> Empty Latent Image -> KSampler ->
VAE Decode -> Save Image) runs on the engine with a tiny checkpoint; node details against the models."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from impasto.engine.cache import CacheSettings
from impasto.engine.cancel import CancelToken
from impasto.engine.registry import NodeRegistry
from impasto.nodes.image_io import SaveImage
from impasto.nodes.sd import NODE_CLASS_MAPPINGS, ksampler
from impasto.nodes.sd.conditioning import CLIPTextEncode
from impasto.nodes.sd.ksampler import KSampler, prepare_noise
from impasto.nodes.sd.latent import EmptyLatentImage, VAEDecode, VAEEncode
from impasto.nodes.sd.loaders import CheckpointLoaderSimple, free_models
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders
from impasto.protocol.events import EventType
from impasto.samplers.sampling import SAMPLERS
from impasto.samplers.schedules import SCHEDULERS
from tests.conftest import Harness


def default_workflow(ckpt: str, seed: int = 5, steps: int = 4, sampler: str = "euler", scheduler: str = "normal"):
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": 8.0,
                "sampler_name": sampler,
                "scheduler": scheduler,
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 48, "batch_size": 1}},
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "beautiful scenery, (purple galaxy:1.2) bottle", "clip": ["4", 1]},
        },
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


@pytest.fixture
def folders(tmp_path, tiny_sd, configure_nodes) -> Iterator[Folders]:
    folders = Folders.from_base(tmp_path)
    checkpoints = tmp_path / "models" / "checkpoints"
    checkpoints.mkdir(parents=True)
    shutil.copy(tiny_sd.path, checkpoints / "tiny.safetensors")
    configure_nodes(NodeSettings(folders))
    yield folders
    free_models()


@pytest.fixture
def sd_harness() -> Harness:
    registry = NodeRegistry()
    for name, cls in {**NODE_CLASS_MAPPINGS, "SaveImage": SaveImage}.items():
        registry.register(name, cls)
    return Harness(registry, CacheSettings())


def test_the_checkpoint_combo_lists_the_checkpoints_folder(folders):
    assert CheckpointLoaderSimple.INPUT_TYPES()["required"]["ckpt_name"][0] == ["tiny.safetensors"]


def _pixels(folders: Folders) -> list[bytes]:
    out = []
    for path in sorted(folders.output.glob("*.png")):
        with Image.open(path) as image:
            assert image.size == (64, 48)
            out.append(image.tobytes())
    return out


def test_the_default_workflow_writes_a_png_and_the_same_seed_gives_the_same_png(folders, sd_harness):
    first = sd_harness.run(default_workflow("tiny.safetensors", seed=5))
    assert first.result.status == "success", first.result
    progress = first.of(EventType.PROGRESS)
    assert [p["value"] for p in progress if p["node"] == "3"] == [1, 2, 3, 4]
    assert sd_harness.run(default_workflow("tiny.safetensors", seed=6)).result.status == "success"
    free_models()  # seed 5 again, from a fresh load
    assert sd_harness.run(default_workflow("tiny.safetensors", seed=5)).result.status == "success"
    seed5, seed6, seed5_again = _pixels(folders)
    assert seed5 == seed5_again
    assert seed5 != seed6


def test_every_sampler_and_scheduler_runs_through_ksampler(folders):
    model, clip, _vae = CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")
    (positive,) = CLIPTextEncode().encode(clip, "a cat")
    (negative,) = CLIPTextEncode().encode(clip, "")
    (latent,) = EmptyLatentImage().generate(32, 32, 2)
    assert set(KSampler.SAMPLERS) == set(SAMPLERS) and set(KSampler.SCHEDULERS) == set(SCHEDULERS)
    schedulers = list(SCHEDULERS)
    for i, sampler in enumerate(KSampler.SAMPLERS):  # each sampler once, the schedulers in turn
        scheduler = schedulers[i % len(schedulers)]
        (out,) = KSampler().sample(model, 1, 3, 5.0, sampler, scheduler, positive, negative, latent)
        assert out["samples"].shape == (2, 4, 4, 4)
        assert torch.isfinite(out["samples"]).all(), (sampler, scheduler)


def test_noise_for_a_batch_index_is_the_noise_that_image_had_in_the_batch():
    whole = prepare_noise(torch.Size([4, 4, 2, 2]), 9)
    assert torch.equal(prepare_noise(torch.Size([2, 4, 2, 2]), 9, [3, 1]), whole[[3, 1]])


def test_vae_encode_then_decode_keeps_the_image_size_and_crops_to_multiples_of_8(folders):
    _model, _clip, vae = CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")
    pixels = torch.rand(2, 50, 70, 3, generator=torch.Generator().manual_seed(0))
    (latent,) = VAEEncode().encode(vae, pixels)
    assert latent["samples"].shape == (2, 4, 6, 8)
    (images,) = VAEDecode().decode(vae, latent)
    assert images.shape == (2, 48, 64, 3)
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    with torch.no_grad():
        expected = vae.model.encode(pixels[:1, 1:49, 3:67].movedim(-1, 1) * 2 - 1)
    assert_close(latent["samples"][:1], expected)


def test_a_cancel_during_sampling_stops_at_that_step(folders, sd_harness, monkeypatch):
    token = CancelToken()
    seen: list[int] = []
    original = ksampler._progress

    def cancel_at_the_second_step(step, *previews):
        seen.append(step.index)
        if step.index == 1:
            token.cancel()  # as the worker does when the server asks
        original(step, *previews)

    monkeypatch.setattr(ksampler, "_progress", cancel_at_the_second_step)
    run = sd_harness.run(default_workflow("tiny.safetensors", steps=50), token=token)
    assert EventType.EXECUTION_INTERRUPTED.value in run.types()
    assert seen == [0, 1]
    assert not list(folders.output.glob("*.png"))


def test_a_missing_or_corrupt_checkpoint_fails_the_job_with_a_clear_error(folders, sd_harness, tmp_path):
    (tmp_path / "models" / "checkpoints" / "broken.safetensors").write_bytes(b"\x00" * 100)
    run = sd_harness.run(default_workflow("broken.safetensors"))
    errors = run.of(EventType.EXECUTION_ERROR)
    assert errors and "not a valid safetensors file" in errors[0]["exception_message"]
    assert errors[0]["node_id"] == "4"
    again = sd_harness.run(default_workflow("tiny.safetensors"))
    assert again.result.status == "success"
