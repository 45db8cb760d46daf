#!/usr/bin/env python3
"""Converts a facebookresearch/DiT checkpoint into a Loupe checkpoint.

    python3 Scripts/export_dit.py CHECKPOINT.pt OUT.safetensors [--num-heads H] [--no-null-class]
        [--weights ema|model] [--check --repo /path/to/DiT]

CHECKPOINT.pt is either a plain state dict (the released `DiT-XL-2-256x256.pt`,
`DiT-XL-2-512x512.pt`) or a checkpoint written by DiT's `train.py` (a dict with `model`, `ema`,
`opt` and `args`; `--weights` picks `ema`, the default, or `model`). It is read with
`torch.load(..., weights_only=True)`, which loads tensors and plain containers and refuses
anything that would run code; the one class allowed besides is `argparse.Namespace` (train.py's
`args`).

OUT holds every tensor of the state dict under DiT's own name (`x_embedder.proj.weight`,
`pos_embed`, `t_embedder.mlp.0.weight`, `y_embedder.embedding_table.weight`,
`blocks.0.attn.qkv.weight`, `blocks.0.adaLN_modulation.1.weight`, `final_layer.linear.weight`, ...)
in float32, and `__metadata__` entries `loupe.architecture` ("dit"), `loupe.config` (DiT's
constructor arguments, read off the weights' shapes) and `format` ("pt"):
  patch_size, in_channels, hidden_size    from x_embedder.proj.weight [hidden, in_channels, p, p]
  input_size                              sqrt(tokens of pos_embed) * patch_size
  depth                                   the number of blocks
  mlp_ratio                               blocks.0.mlp.fc1.weight rows / hidden_size
  learn_sigma                             final_layer.linear.weight rows / p^2 = 2 in_channels
  num_classes, class_dropout_prob         the label table has num_classes + 1 rows (the last is
                                          the null class) and class_dropout_prob is DiT's 0.1;
                                          with --no-null-class it has num_classes rows and 0
  num_heads                               not in the weights: DiT's presets' (6 for hidden 384,
                                          12 for 768, 16 for 1024 and 1152), or --num-heads
Checkpoints Loupe cannot represent (other or missing tensors, shapes that do not fit DiT, a
timestep embedding that is not DiT's 256 frequencies, a non-square token grid) are refused with
exit status 2 and the reason; nothing is written then.

`--check` (needs `--repo`, a checkout of facebookresearch/DiT; imports its models.py, which needs
timm) also builds DiT's own model with the inferred configuration, loads the state dict strictly,
and writes OUT.check.safetensors with seeded inputs `x` [3, C, S, S], `t` = [0, 999, 17.5],
`y` = [0, num_classes - 1, null class or 1] and DiT's `output` for them (float32, eval mode).
"""
import argparse
import json
import math
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import Unsupported, check_path, config_json, fail, save_file  # noqa: E402

PRESET_HEADS = {384: 6, 768: 12, 1024: 16, 1152: 16}
FREQUENCIES = 256


def load_state(path, weights):
    """The state dict of a DiT checkpoint, loaded without running pickled code."""
    torch.serialization.add_safe_globals([argparse.Namespace])
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001
        raise Unsupported(f"{path}: cannot be read as a DiT checkpoint with weights_only=True "
                          f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})")
    if isinstance(checkpoint, dict) and weights in checkpoint and isinstance(checkpoint[weights], dict):
        checkpoint = checkpoint[weights]
    elif isinstance(checkpoint, dict) and ("ema" in checkpoint or "model" in checkpoint):
        raise Unsupported(f"{path}: a training checkpoint without '{weights}' weights (has {', '.join(sorted(checkpoint))})")
    if not isinstance(checkpoint, dict) or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise Unsupported(f"{path}: not a DiT state dict (expected a dict of tensors)")
    return {k: v for k, v in checkpoint.items()}


def shape(state, name, rank):
    if name not in state:
        raise Unsupported(f"the checkpoint has no '{name}': not a DiT state dict")
    t = state[name]
    if t.dim() != rank:
        raise Unsupported(f"'{name}' has shape {list(t.shape)}, expected {rank} dimensions")
    if not t.is_floating_point():
        raise Unsupported(f"'{name}' is {t.dtype}, not floating point")
    return list(t.shape)


def expected_shapes(config):
    """DiT's state dict for a configuration, name -> shape."""
    d, p, c = config["hidden_size"], config["patch_size"], config["in_channels"]
    h = int(d * config["mlp_ratio"])
    out = c * (2 if config["learn_sigma"] else 1)
    tokens = (config["input_size"] // p) ** 2
    rows = config["num_classes"] + (1 if config["class_dropout_prob"] > 0 else 0)
    shapes = {"pos_embed": [1, tokens, d], "x_embedder.proj.weight": [d, c, p, p], "x_embedder.proj.bias": [d],
              "t_embedder.mlp.0.weight": [d, FREQUENCIES], "t_embedder.mlp.0.bias": [d],
              "t_embedder.mlp.2.weight": [d, d], "t_embedder.mlp.2.bias": [d],
              "y_embedder.embedding_table.weight": [rows, d],
              "final_layer.linear.weight": [p * p * out, d], "final_layer.linear.bias": [p * p * out],
              "final_layer.adaLN_modulation.1.weight": [2 * d, d], "final_layer.adaLN_modulation.1.bias": [2 * d]}
    for i in range(config["depth"]):
        b = f"blocks.{i}."
        shapes.update({b + "attn.qkv.weight": [3 * d, d], b + "attn.qkv.bias": [3 * d],
                       b + "attn.proj.weight": [d, d], b + "attn.proj.bias": [d],
                       b + "mlp.fc1.weight": [h, d], b + "mlp.fc1.bias": [h],
                       b + "mlp.fc2.weight": [d, h], b + "mlp.fc2.bias": [d],
                       b + "adaLN_modulation.1.weight": [6 * d, d], b + "adaLN_modulation.1.bias": [6 * d]})
    return shapes


def dit_config(state, num_heads=None, null_class=True):
    """DiT's constructor arguments read off the state dict's shapes; raises Unsupported."""
    d, c, p, q = shape(state, "x_embedder.proj.weight", 4)
    if p != q:
        raise Unsupported(f"x_embedder.proj.weight {[d, c, p, q]}: DiT's patches are square")
    _, tokens, width = shape(state, "pos_embed", 3)
    grid = math.isqrt(tokens)
    if grid * grid != tokens or width != d:
        raise Unsupported(f"pos_embed [1, {tokens}, {width}]: not a square grid of hidden_size {d} tokens")
    if d % 4:
        raise Unsupported(f"hidden_size {d} is not a multiple of 4 (DiT's 2-D sin-cos position embedding)")
    frequencies = shape(state, "t_embedder.mlp.0.weight", 2)[1]
    if frequencies != FREQUENCIES:
        raise Unsupported(f"t_embedder.mlp.0.weight takes {frequencies} timestep frequencies; Loupe's DiT uses DiT's {FREQUENCIES}")
    indices = {int(m.group(1)) for k in state for m in [re.match(r"blocks\.(\d+)\.", k)] if m}
    depth = len(indices)
    if depth == 0 or indices != set(range(depth)):
        raise Unsupported(f"blocks {sorted(indices)}: expected blocks 0..depth-1")
    hidden = shape(state, "blocks.0.mlp.fc1.weight", 2)[0]
    rows = shape(state, "final_layer.linear.weight", 2)[0]
    if rows % (p * p) or rows // (p * p) not in (c, 2 * c):
        raise Unsupported(f"final_layer.linear.weight has {rows} rows: not {p}x{p} patches of {c} or {2 * c} channels")
    table = shape(state, "y_embedder.embedding_table.weight", 2)[0]
    classes = table - 1 if null_class else table
    if classes < 1:
        raise Unsupported(f"y_embedder.embedding_table.weight has {table} rows: no classes besides the null class")
    heads = num_heads or PRESET_HEADS.get(d)
    if heads is None:
        raise Unsupported(f"hidden_size {d} is not a DiT preset's, so the number of heads is unknown: give --num-heads")
    if d % heads:
        raise Unsupported(f"hidden_size {d} is not a multiple of num_heads {heads}")
    config = {"input_size": grid * p, "patch_size": p, "in_channels": c, "hidden_size": d, "depth": depth,
              "num_heads": heads, "mlp_ratio": hidden / d, "class_dropout_prob": 0.1 if null_class else 0.0,
              "num_classes": classes, "learn_sigma": rows // (p * p) == 2 * c, "parallel_groups": []}
    if int(d * config["mlp_ratio"]) != hidden:
        raise Unsupported(f"MLP width {hidden} is not int(hidden_size * mlp_ratio) for any ratio")
    expected = expected_shapes(config)
    unknown = sorted(set(state) - set(expected))
    missing = sorted(set(expected) - set(state))
    if unknown or missing:
        raise Unsupported("the state dict does not fit DiT: " + "; ".join(
            ([f"unexpected {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}"] if unknown else []) +
            ([f"missing {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"] if missing else [])))
    for name, want in expected.items():
        if list(state[name].shape) != want:
            raise Unsupported(f"'{name}' has shape {list(state[name].shape)}, expected {want} for {config_json(config)}")
        if not state[name].is_floating_point():
            raise Unsupported(f"'{name}' is {state[name].dtype}, not floating point")
    return config


def write(tensors, path, metadata):
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata)
    os.replace(tmp, path)


def check(repo, state, config, out):
    """Runs DiT's own model on seeded inputs and writes them with its output."""
    sys.path.insert(0, os.path.abspath(repo))
    from models import DiT
    kwargs = {k: v for k, v in config.items() if k != "parallel_groups"}
    model = DiT(**kwargs).eval()
    model.load_state_dict(state, strict=True)
    generator = torch.Generator().manual_seed(0)
    s, c = config["input_size"], config["in_channels"]
    x = torch.randn(3, c, s, s, generator=generator)
    t = torch.tensor([0.0, 999.0, 17.5])
    last = config["num_classes"] if config["class_dropout_prob"] > 0 else min(1, config["num_classes"] - 1)
    y = torch.tensor([0, config["num_classes"] - 1, last])
    with torch.no_grad():
        output = model(x, t, y)
    write({"x": x, "t": t, "y": y.float(), "output": output}, check_path(out), {"format": "pt"})
    print(f"wrote {check_path(out)}: x {list(x.shape)}, output {list(output.shape)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a DiT .pt checkpoint (state dict or train.py checkpoint)")
    parser.add_argument("out", help="output .safetensors")
    parser.add_argument("--num-heads", type=int, help="attention heads (needed when hidden_size is not a preset's)")
    parser.add_argument("--no-null-class", action="store_true",
                        help="the label table has no null-class row (trained with class_dropout_prob 0)")
    parser.add_argument("--weights", choices=["ema", "model"], default="ema", help="which weights of a train.py checkpoint")
    parser.add_argument("--check", action="store_true", help="also write OUT.check.safetensors (needs --repo)")
    parser.add_argument("--repo", help="a checkout of facebookresearch/DiT (for --check)")
    args = parser.parse_args()
    if not args.out.endswith(".safetensors"):
        fail(f"output '{args.out}' must end in .safetensors")
    if args.check and not (args.repo and os.path.isfile(os.path.join(args.repo, "models.py"))):
        fail(f"--check needs --repo, a checkout of facebookresearch/DiT (no models.py in {args.repo})")
    if not os.path.isfile(args.checkpoint):
        fail(f"{args.checkpoint}: no such file")
    try:
        state = load_state(args.checkpoint, args.weights)
        config = dit_config(state, args.num_heads, not args.no_null_class)
    except Unsupported as error:
        fail(str(error))
    tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in state.items()}
    write(tensors, args.out, {"format": "pt", "loupe.architecture": "dit", "loupe.config": config_json(config)})
    print(f"wrote {args.out}: {len(tensors)} tensors, config {config_json(config)}")
    if args.check:
        check(args.repo, tensors, config, args.out)


if __name__ == "__main__":
    main()
