#!/usr/bin/env python3
"""Converts a diffusers AutoencoderKL (the Stable Diffusion VAE) into a Loupe checkpoint.

    python3 Scripts/export_vae.py SOURCE OUT.safetensors [--config CONFIG.json]
        [--norm-num-groups 32] [--scaling-factor 0.18215] [--sample-size 256] [--check]

SOURCE is a diffusers VAE folder (`config.json` with `diffusion_pytorch_model.safetensors`, or
`diffusion_pytorch_model.bin`), e.g. a download of stabilityai/sd-vae-ft-ema, or a single state
dict: `.safetensors`, or `.pt`/`.bin`/`.ckpt` read with `torch.load(weights_only=True)` (plain
tensors only: no code is unpickled). A state dict may be wrapped in `{"state_dict": ...}`.

Parameter names are diffusers' (`encoder.down_blocks.0.resnets.1.conv1.weight`,
`encoder.mid_block.attentions.0.to_q.weight`, `quant_conv.weight`, `decoder.up_blocks.3.resnets.2.norm2.bias`).
Checkpoints saved by diffusers before 0.14 name the mid-block attention's layers `query`, `key`,
`value` and `proj_attn`; they are renamed `to_q`, `to_k`, `to_v` and `to_out.0` (and 1x1
convolution weights `[C, C, 1, 1]` become linear `[C, C]`), as diffusers does when it loads them.

The configuration comes from the folder's `config.json` (or `--config`). A lone state dict has
none: channels, `layers_per_block`, latent channels, mid-block attention and the quant
convolutions are read from the weights' shapes, `norm_num_groups`, `scaling_factor` and
`sample_size` from the options (defaults: Stable Diffusion's 32, 0.18215, 256), and the script
says so. OUT holds every tensor in float32 and `__metadata__` entries `loupe.architecture`
("autoencoder_kl"), `loupe.config` (the configuration keyed by diffusers' names) and `format` ("pt").

Refused with exit status 2, naming what: other block types than DownEncoderBlock2D /
UpDecoderBlock2D, activations other than SiLU, `latents_mean`/`latents_std`, the original
CompVis/LDM key layout (`encoder.down.0.block.0...`: convert it with diffusers'
`convert_vae_pt_to_diffusers.py` first), missing, unexpected or misshapen tensors, non-float tensors.

`--check` (needs diffusers) also writes OUT.check.safetensors: `latent` [1, C, 4, 4] (seed 0),
`image` = diffusers' `decode(latent)`, `input` [1, 3, 4f, 4f] (seed 1, in [-1, 1]) and the
posterior's `mean` and `logvar` for it, computed by diffusers' own AutoencoderKL in float32.
"""
import argparse
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import check_path, config_json, fail, save_file  # noqa: E402

WEIGHT_FILES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
# diffusers' pre-0.14 attention names (`_convert_deprecated_attention_blocks`).
OLD_ATTENTION = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}
KNOWN = {"in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels", "layers_per_block",
         "act_fn", "latent_channels", "norm_num_groups", "sample_size", "scaling_factor", "shift_factor", "latents_mean",
         "latents_std", "force_upcast", "use_quant_conv", "use_post_quant_conv", "mid_block_add_attention"}


def load_state(path):
    """A flat {name: tensor} from a .safetensors or a weights-only torch file."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        try:
            return load_file(path)
        except Exception as error:  # noqa: BLE001
            fail(f"{path}: not a readable safetensors file ({type(error).__name__}: {error})")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001
        fail(f"{path}: cannot be read as a weights-only torch state dict ({type(error).__name__}: {error}); "
             "Loupe's converter never unpickles code")
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        fail(f"{path}: expected a state dict (names to tensors), got {type(data).__name__}")
    bad = [k for k, v in data.items() if not isinstance(v, torch.Tensor)]
    if bad:
        fail(f"{path}: entries that are not tensors: {', '.join(sorted(bad)[:5])}")
    return data


def rename_old_keys(state):
    """diffusers' old attention names to the current ones; 1x1 convolution weights to linear ones."""
    renamed, count = {}, 0
    for name, t in state.items():
        m = re.match(r"^((?:encoder|decoder)\.mid_block\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$", name)
        if m:
            name = f"{m.group(1)}.{OLD_ATTENTION[m.group(2)]}.{m.group(3)}"
            count += 1
        if re.match(r"^(encoder|decoder)\.mid_block\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$", name) \
                and t.dim() == 4 and t.shape[2:] == (1, 1):
            t = t[:, :, 0, 0]
        if name in renamed:
            fail(f"tensor {name} is given under both its old and its new name")
        renamed[name] = t
    return renamed, count


def read_config(path):
    with open(path) as f:
        config = json.load(f)
    if config.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        fail(f"{path}: a {config['_class_name']}, not an AutoencoderKL")
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    unknown = sorted(set(config) - KNOWN)
    if unknown:
        fail(f"{path}: AutoencoderKL options Loupe does not know: {', '.join(unknown)}")
    levels = len(config.get("block_out_channels", [64]))
    for key, kind in (("down_block_types", "DownEncoderBlock2D"), ("up_block_types", "UpDecoderBlock2D")):
        types = config.get(key, [kind])
        if list(types) != [kind] * levels:
            fail(f"{path}: {key} {types}: Loupe's AutoencoderKL has {levels} {kind} blocks")
    if config.get("act_fn", "silu") != "silu":
        fail(f"{path}: act_fn '{config['act_fn']}': Loupe's AutoencoderKL uses SiLU")
    for key in ("latents_mean", "latents_std"):
        if config.get(key) is not None:
            fail(f"{path}: {key} is set: Loupe's AutoencoderKL configuration has no per-channel latent statistics")
    # diffusers' defaults for what config.json may omit.
    return {"in_channels": config.get("in_channels", 3), "out_channels": config.get("out_channels", 3),
            "latent_channels": config.get("latent_channels", 4), "block_out_channels": list(config.get("block_out_channels", [64])),
            "layers_per_block": config.get("layers_per_block", 1), "norm_num_groups": config.get("norm_num_groups", 32),
            "sample_size": config.get("sample_size", 32) if not isinstance(config.get("sample_size"), list) else config["sample_size"][0],
            "scaling_factor": config.get("scaling_factor", 0.18215), "shift_factor": config.get("shift_factor"),
            "use_quant_conv": config.get("use_quant_conv", True), "use_post_quant_conv": config.get("use_post_quant_conv", True),
            "mid_block_add_attention": config.get("mid_block_add_attention", True)}


def infer_config(state, args):
    """The configuration from the weights' shapes (and the options for what shapes do not show)."""
    def shape(name):
        if name not in state:
            fail(f"cannot infer the configuration: no tensor {name}")
        return tuple(state[name].shape)
    levels = sorted({int(m.group(1)) for k in state for m in [re.match(r"^encoder\.down_blocks\.(\d+)\.", k)] if m})
    if not levels:
        fail("cannot infer the configuration: no encoder.down_blocks.* tensors")
    resnets = {int(m.group(1)) for k in state for m in [re.match(r"^encoder\.down_blocks\.0\.resnets\.(\d+)\.", k)] if m}
    config = {"in_channels": shape("encoder.conv_in.weight")[1], "out_channels": shape("decoder.conv_out.weight")[0],
              "latent_channels": shape("decoder.conv_in.weight")[1],
              "block_out_channels": [shape(f"encoder.down_blocks.{i}.resnets.0.conv1.weight")[0] for i in levels],
              "layers_per_block": len(resnets), "norm_num_groups": args.norm_num_groups, "sample_size": args.sample_size,
              "scaling_factor": args.scaling_factor, "shift_factor": None,
              "use_quant_conv": "quant_conv.weight" in state, "use_post_quant_conv": "post_quant_conv.weight" in state,
              "mid_block_add_attention": any(k.startswith("encoder.mid_block.attentions.") for k in state)}
    print(f"no config.json: read {config} from the weights' shapes; norm_num_groups {args.norm_num_groups}, "
          f"scaling_factor {args.scaling_factor} and sample_size {args.sample_size} are the options' values")
    return config


def expected_shapes(c):
    """Every tensor diffusers' AutoencoderKL of configuration c holds, with its shape."""
    shapes = {}

    def conv(p, i, o, k):
        shapes[p + ".weight"], shapes[p + ".bias"] = (o, i, k, k), (o,)

    def norm(p, ch):
        shapes[p + ".weight"], shapes[p + ".bias"] = (ch,), (ch,)

    def resnet(p, i, o):
        norm(p + ".norm1", i); conv(p + ".conv1", i, o, 3); norm(p + ".norm2", o); conv(p + ".conv2", o, o, 3)
        if i != o:
            conv(p + ".conv_shortcut", i, o, 1)

    def mid(p, ch):
        resnet(p + ".resnets.0", ch, ch); resnet(p + ".resnets.1", ch, ch)
        if c["mid_block_add_attention"]:
            a = p + ".attentions.0"
            norm(a + ".group_norm", ch)
            for name in ("to_q", "to_k", "to_v", "to_out.0"):
                shapes[f"{a}.{name}.weight"], shapes[f"{a}.{name}.bias"] = (ch, ch), (ch,)

    ch, L, lat = c["block_out_channels"], c["layers_per_block"], c["latent_channels"]
    conv("encoder.conv_in", c["in_channels"], ch[0], 3)
    for i in range(len(ch)):
        for j in range(L):
            resnet(f"encoder.down_blocks.{i}.resnets.{j}", ch[max(i - 1, 0)] if j == 0 else ch[i], ch[i])
        if i < len(ch) - 1:
            conv(f"encoder.down_blocks.{i}.downsamplers.0.conv", ch[i], ch[i], 3)
    mid("encoder.mid_block", ch[-1])
    norm("encoder.conv_norm_out", ch[-1]); conv("encoder.conv_out", ch[-1], 2 * lat, 3)
    rev = list(reversed(ch))
    conv("decoder.conv_in", lat, rev[0], 3)
    mid("decoder.mid_block", rev[0])
    for i in range(len(rev)):
        for j in range(L + 1):
            resnet(f"decoder.up_blocks.{i}.resnets.{j}", rev[max(i - 1, 0)] if j == 0 else rev[i], rev[i])
        if i < len(rev) - 1:
            conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", rev[i], rev[i], 3)
    norm("decoder.conv_norm_out", rev[-1]); conv("decoder.conv_out", rev[-1], c["out_channels"], 3)
    if c["use_quant_conv"]:
        conv("quant_conv", 2 * lat, 2 * lat, 1)
    if c["use_post_quant_conv"]:
        conv("post_quant_conv", lat, lat, 1)
    return shapes


def validate(state, config):
    ch = config["block_out_channels"]
    if not ch or any(x <= 0 or x % config["norm_num_groups"] for x in ch):
        fail(f"block_out_channels {ch} must be positive and divisible by norm_num_groups {config['norm_num_groups']}")
    expected = expected_shapes(config)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        fail(f"the weights do not fit the configuration: missing {missing[:6]}{'...' if len(missing) > 6 else ''} "
             f"({len(missing)}), unexpected {unexpected[:6]}{'...' if len(unexpected) > 6 else ''} ({len(unexpected)})")
    for name, t in state.items():
        if tuple(t.shape) != expected[name]:
            fail(f"tensor {name} has shape {list(t.shape)}, expected {list(expected[name])}")
        if not t.is_floating_point():
            fail(f"tensor {name} is {t.dtype}, not floating point")


def check(state, config, out):
    try:
        from diffusers import AutoencoderKL
    except ImportError:
        fail("--check needs diffusers (pip install diffusers)")
    levels = len(config["block_out_channels"])
    kwargs = {k: v for k, v in config.items() if k not in ("shift_factor",)}
    model = AutoencoderKL(**kwargs, shift_factor=config["shift_factor"], down_block_types=["DownEncoderBlock2D"] * levels,
                          up_block_types=["UpDecoderBlock2D"] * levels).eval()
    model.load_state_dict(state, strict=True)
    f = 2 ** (levels - 1)
    latent = torch.randn(1, config["latent_channels"], 4, 4, generator=torch.Generator().manual_seed(0))
    image = 2 * torch.rand(1, config["in_channels"], 4 * f, 4 * f, generator=torch.Generator().manual_seed(1)) - 1
    with torch.no_grad():
        decoded = model.decode(latent).sample
        posterior = model.encode(image).latent_dist
    tensors = {"latent": latent, "image": decoded, "input": image, "mean": posterior.mean, "logvar": posterior.logvar}
    path = check_path(out)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path + ".tmp", metadata={"format": "pt"})
    os.replace(path + ".tmp", path)
    print(f"wrote {path}: latent {list(latent.shape)}, image {list(decoded.shape)}, input {list(image.shape)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a diffusers VAE folder, or a .safetensors/.pt/.bin/.ckpt state dict")
    parser.add_argument("out", help="output .safetensors")
    parser.add_argument("--config", help="a diffusers config.json (default: SOURCE/config.json for a folder)")
    parser.add_argument("--norm-num-groups", type=int, default=32, help="without a config.json (default 32)")
    parser.add_argument("--scaling-factor", type=float, default=0.18215, help="without a config.json (default 0.18215)")
    parser.add_argument("--sample-size", type=int, default=256, help="without a config.json (default 256)")
    parser.add_argument("--check", action="store_true", help="also write OUT.check.safetensors (needs diffusers)")
    args = parser.parse_args()
    if not args.out.endswith(".safetensors"):
        fail(f"output '{args.out}' must end in .safetensors")
    config_path = args.config
    if os.path.isdir(args.source):
        weights = [os.path.join(args.source, n) for n in WEIGHT_FILES if os.path.isfile(os.path.join(args.source, n))]
        if not weights:
            fail(f"{args.source}: no {' or '.join(WEIGHT_FILES)} in the folder")
        config_path = config_path or os.path.join(args.source, "config.json")
        if not os.path.isfile(config_path):
            fail(f"{args.source}: no config.json in the folder")
        source = weights[0]
    elif os.path.isfile(args.source):
        source = args.source
    else:
        fail(f"{args.source}: no such file or folder")
    state = load_state(source)
    if any(k.startswith("first_stage_model.") or re.match(r"^(encoder|decoder)\.(down|up)\.\d+\.block\.", k) for k in state):
        fail(f"{source}: the original CompVis/LDM key layout (encoder.down.0.block.0...); convert it to diffusers' layout "
             "first (diffusers' scripts/convert_vae_pt_to_diffusers.py)")
    state, renamed = rename_old_keys(state)
    if renamed:
        print(f"renamed {renamed} tensors from diffusers' old attention names (query/key/value/proj_attn)")
    config = read_config(config_path) if config_path else infer_config(state, args)
    validate(state, config)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
    tmp = args.out + ".tmp"
    save_file(state, tmp, {"format": "pt", "loupe.architecture": "autoencoder_kl", "loupe.config": config_json(config)})
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(state)} tensors, {sum(t.numel() for t in state.values())} parameters, "
          f"config {config_json(config)}")
    if args.check:
        check(state, config, args.out)


if __name__ == "__main__":
    main()
