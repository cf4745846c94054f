"""LoRAs in kohya, kohya-over-LDM and diffusers/PEFT spelling patch the same layers as the same LoRA applied to
the diffusers/transformers references by their own module names."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator

import pytest
import torch
from safetensors.torch import save_file
from torch.testing import assert_close

from impasto.models.errors import UnsupportedModelError
from impasto.nodes.sd.loaders import CheckpointLoaderSimple, free_models
from impasto.nodes.sd.lora import LoraLoader, LoraLoaderModelOnly
from impasto.nodes.settings import NodeSettings
from impasto.paths import Folders

UNET_LAYERS = (
    "conv_in",
    "time_embedding.linear_1",
    "down_blocks.0.resnets.0.conv1",
    "down_blocks.0.resnets.0.time_emb_proj",
    "down_blocks.0.attentions.0.proj_in",
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
    "down_blocks.0.downsamplers.0.conv",
    "down_blocks.1.resnets.0.conv_shortcut",
    "mid_block.attentions.0.transformer_blocks.0.attn2.to_k",
    "mid_block.resnets.1.conv2",
    "up_blocks.0.upsamplers.0.conv",
    "up_blocks.1.attentions.1.transformer_blocks.0.ff.net.2",
    "up_blocks.1.upsamplers.0.conv",
    "up_blocks.2.attentions.1.transformer_blocks.0.attn1.to_out.0",
    "conv_out",
)
CLIP_LAYERS = ("text_model.encoder.layers.0.self_attn.q_proj", "text_model.encoder.layers.2.mlp.fc1")
RANK, ALPHA = 4, 2.0


def _factors(module: torch.nn.Module, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    weight = module.get_parameter("weight")
    if weight.dim() == 4:
        down = torch.randn(RANK, weight.shape[1], *weight.shape[2:], generator=generator) * 0.3
        up = torch.randn(weight.shape[0], RANK, 1, 1, generator=generator) * 0.3
    else:
        down = torch.randn(RANK, weight.shape[1], generator=generator) * 0.3
        up = torch.randn(weight.shape[0], RANK, generator=generator) * 0.3
    return down, up


@pytest.fixture(scope="module")
def lora(tiny_sd):
    """name (diffusers spelling, 'unet.' or 'text_encoder.' in front) -> (down, up)."""
    generator = torch.Generator().manual_seed(11)
    unet_modules = dict(tiny_sd.unet.named_modules())
    # transformers 5 drops the `text_model.` level from CLIPTextModel's module names; LoRAs keep it.
    clip_modules = dict(tiny_sd.clip.named_modules())
    factors = {f"unet.{n}": _factors(unet_modules[n], generator) for n in UNET_LAYERS}
    for name in CLIP_LAYERS:
        module = clip_modules.get(name) or clip_modules[name.removeprefix("text_model.")]
        factors[f"text_encoder.{name}"] = _factors(module, generator)
    return factors


def _kohya(factors) -> dict[str, torch.Tensor]:
    out = {}
    for name, (down, up) in factors.items():
        side, _, path = name.partition(".")
        key = ("lora_unet_" if side == "unet" else "lora_te_") + path.replace(".", "_")
        out[f"{key}.lora_down.weight"], out[f"{key}.lora_up.weight"] = down, up
        out[f"{key}.alpha"] = torch.tensor(ALPHA)
    return out


def _peft(factors) -> dict[str, torch.Tensor]:
    out = {}
    for name, (down, up) in factors.items():
        out[f"{name}.lora_A.weight"], out[f"{name}.lora_B.weight"] = down, up
        out[f"{name}.alpha"] = torch.tensor(ALPHA)
    return out


def _patched_reference(module: torch.nn.Module, factors, side: str, strength: float) -> torch.nn.Module:
    patched = copy.deepcopy(module)
    modules = dict(patched.named_modules())
    with torch.no_grad():
        for name, (down, up) in factors.items():
            if not name.startswith(side + "."):
                continue
            path = name[len(side) + 1 :]
            target = modules.get(path) or modules[path.removeprefix("text_model.")]
            delta = (up.flatten(1) @ down.flatten(1)).reshape(target.weight.shape) * (ALPHA / RANK)
            target.weight += strength * delta
    return patched


@pytest.fixture
def folders(tiny_sd, lora, tmp_path, configure_nodes) -> Iterator[Folders]:
    (tmp_path / "models" / "checkpoints").mkdir(parents=True)
    (tmp_path / "models" / "loras").mkdir(parents=True)
    shutil.copy(tiny_sd.path, tmp_path / "models" / "checkpoints" / "tiny.safetensors")
    save_file(_kohya(lora), str(tmp_path / "models" / "loras" / "kohya.safetensors"))
    save_file(_peft(lora), str(tmp_path / "models" / "loras" / "peft.safetensors"))
    folders = Folders.from_base(tmp_path)
    configure_nodes(NodeSettings(folders))
    yield folders
    free_models()


def test_a_kohya_lora_patches_unet_and_text_encoder_as_the_references(tiny_sd, lora, folders):
    model, clip, _ = CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")
    before = [p.clone() for p in model.unet.parameters()]
    new_model, new_clip = LoraLoader().load_lora(model, clip, "kohya.safetensors", 0.7, 0.5)
    assert all(torch.equal(a, b) for a, b in zip(before, model.unet.parameters(), strict=True))  # input unchanged
    reference_unet = _patched_reference(tiny_sd.unet, lora, "unet", 0.7)
    reference_clip = _patched_reference(tiny_sd.clip, lora, "text_encoder", 0.5)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 16, 16, generator=generator)
    context = torch.randn(1, 77, 128, generator=generator)
    t = torch.tensor([400.0])
    tokens = torch.randint(0, 49406, (1, 77), generator=generator)
    with torch.no_grad():
        expected = reference_unet(x, t, encoder_hidden_states=context).sample
        assert not torch.allclose(expected, model.unet(x, t, context), atol=1e-3)  # the LoRA changes the output
        assert_close(new_model.unet(x, t, context), expected, atol=1e-4, rtol=1e-4)
        assert_close(
            new_clip.model(tokens).hidden, reference_clip(input_ids=tokens).last_hidden_state, atol=1e-4, rtol=1e-4
        )
    # Unpatched weights are shared, not copied.
    shared = dict(new_model.unet.named_parameters())["input_blocks.1.0.in_layers.0.weight"]
    assert shared.data_ptr() == dict(model.unet.named_parameters())["input_blocks.1.0.in_layers.0.weight"].data_ptr()


def test_peft_and_ldm_spellings_give_the_same_weights(lora, folders, tmp_path):
    model, clip, _ = CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")
    kohya, _ = LoraLoader().load_lora(model, clip, "kohya.safetensors", 1.0, 1.0)
    peft, _ = LoraLoader().load_lora(model, clip, "peft.safetensors", 1.0, 1.0)
    ldm = {
        "lora_unet_input_blocks_1_1_proj_in": lora["unet.down_blocks.0.attentions.0.proj_in"],
        "lora_unet_output_blocks_3_2_conv": lora["unet.up_blocks.1.upsamplers.0.conv"],
    }
    tensors = {}
    for key, (down, up) in ldm.items():
        tensors[f"{key}.lora_down.weight"], tensors[f"{key}.lora_up.weight"] = down, up
        tensors[f"{key}.alpha"] = torch.tensor(ALPHA)
    save_file(tensors, str(tmp_path / "models" / "loras" / "ldm.safetensors"))
    (ldm_model,) = LoraLoaderModelOnly().load_lora_model_only(model, "ldm.safetensors", 1.0)
    kohya_state, peft_state, ldm_state = (m.unet.state_dict() for m in (kohya, peft, ldm_model))
    for key in kohya_state:
        assert torch.equal(kohya_state[key], peft_state[key]), key
    for key in ("input_blocks.1.1.proj_in.weight", "output_blocks.3.2.conv.weight"):
        assert torch.equal(ldm_state[key], kohya_state[key]), key
    unpatched = "input_blocks.1.0.in_layers.2.weight"  # patched by the kohya LoRA, not by this one
    assert torch.equal(ldm_state[unpatched], model.unet.state_dict()[unpatched])


def test_a_lora_for_another_architecture_is_refused(folders, tmp_path):
    model, clip, _ = CheckpointLoaderSimple().load_checkpoint("tiny.safetensors")
    loras = tmp_path / "models" / "loras"
    save_file(
        {
            "lora_transformer_single_blocks_0_attn_to_q.lora_down.weight": torch.zeros(4, 3072),
            "lora_transformer_single_blocks_0_attn_to_q.lora_up.weight": torch.zeros(3072, 4),
        },
        str(loras / "flux.safetensors"),
    )
    with pytest.raises(UnsupportedModelError, match=r"a LoRA for another architecture.*none of its 1 layers"):
        LoraLoader().load_lora(model, clip, "flux.safetensors", 1.0, 1.0)
    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    save_file(
        {f"{key}.lora_down.weight": torch.zeros(4, 2048), f"{key}.lora_up.weight": torch.zeros(320, 4)},
        str(loras / "sdxl.safetensors"),
    )
    with pytest.raises(UnsupportedModelError, match=r"another architecture.*attn2_to_k"):
        LoraLoaderModelOnly().load_lora_model_only(model, "sdxl.safetensors", 1.0)
    save_file({"some.weight": torch.zeros(2)}, str(loras / "plain.safetensors"))
    with pytest.raises(ValueError, match="holds no LoRA weights"):
        LoraLoaderModelOnly().load_lora_model_only(model, "plain.safetensors", 1.0)
    assert LoraLoader().load_lora(model, clip, "flux.safetensors", 0.0, 0.0) == (model, clip)
