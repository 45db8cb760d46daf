#!/usr/bin/env python3
"""Converts a timm ViT / DeiT III into a Loupe checkpoint.

    python3 Scripts/export_timm.py MODEL_NAME OUT.safetensors [--pretrained | --checkpoint FILE]
        [--set key=value ...] [--check] [--seed N]

The file holds timm's state-dict names and `__metadata__` entries `loupe.architecture` ("vit"),
`loupe.config` (Loupe's ViTConfig as JSON, keyed by the language's `vit(...)` argument names:
`image_size`, `patch`, `mlp_ratio`, ...), `loupe.classes` (ImageNet class names when the model
has 1000 classes), `loupe.preprocess` (timm's input mean/std/size, JSON) and `format` ("pt"), so
Loupe rebuilds it with `model(path)`. Without `--pretrained` or `--checkpoint` the
weights are timm's random initialisation (seeded by `--seed`). `--set` overrides timm
constructor arguments (`--set img_size=32 --set depth=2`). `--check` also writes
OUT.check.safetensors with an input and timm's logits for comparing Loupe's output.
Configurations Loupe's ViT cannot represent are refused with the reason.
"""
import argparse
import ast
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import Unsupported, fail, perturb, write_check, write_checkpoint  # noqa: E402


def pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def is_identity(module):
    return module is None or isinstance(module, nn.Identity)


def layer_norm_eps(module, where):
    # timm's own LayerNorm subclasses torch's with the same numerics.
    if not isinstance(module, nn.LayerNorm) or type(module).__name__ != "LayerNorm" \
            or not module.elementwise_affine or module.bias is None:
        raise Unsupported(f"{where} is {type(module).__name__}; Loupe's ViT uses LayerNorm with weight and bias")
    return module.eps


def vit_config(model):
    """Loupe's ViTConfig fields for a timm VisionTransformer, or Unsupported with the reason."""
    from timm.models.vision_transformer import VisionTransformer
    from timm.layers import LayerScale, Mlp
    if not isinstance(model, VisionTransformer):
        raise Unsupported(f"{type(model).__name__} is not a timm VisionTransformer (ViT / DeiT III only)")
    if getattr(model, "dynamic_img_size", False):
        raise Unsupported("dynamic_img_size=True (Loupe's ViT has a fixed image size)")
    if getattr(model, "num_reg_tokens", 0):
        raise Unsupported(f"{model.num_reg_tokens} register tokens (Loupe's ViT has none)")
    if model.pos_embed is None:
        raise Unsupported("no learned position embedding (class_pos_embed / pos_embed='none')")
    if getattr(model, "attn_pool", None) is not None:
        raise Unsupported(f"global_pool='{model.global_pool}' with attention pooling")
    if model.global_pool not in ("token", "avg"):
        raise Unsupported(f"global_pool='{model.global_pool}' (Loupe supports 'token' and 'avg')")
    if not is_identity(model.norm_pre):
        raise Unsupported("pre_norm=True (a LayerNorm before the blocks, as CLIP)")
    pe = model.patch_embed
    image, patch = pair(pe.img_size), pair(pe.patch_size)
    if image[0] != image[1] or patch[0] != patch[1]:
        raise Unsupported(f"non-square image {image} or patch {patch}")
    if getattr(pe, "dynamic_img_pad", False) or not getattr(pe, "flatten", True):
        raise Unsupported("dynamic image padding in the patch embedding")
    if pe.proj.bias is None or not is_identity(getattr(pe, "norm", None)):
        raise Unsupported("patch embedding without bias or with a norm")
    dim = model.embed_dim
    eps = None
    for i, block in enumerate(model.blocks):
        where = f"blocks.{i}"
        if type(block).__name__ != "Block":
            raise Unsupported(f"{where} is {type(block).__name__} (Loupe has timm's pre-norm Block only)")
        attn = block.attn
        if attn.qkv.bias is None:
            raise Unsupported(f"{where}.attn.qkv has no bias (qkv_bias=False)")
        if not (is_identity(attn.q_norm) and is_identity(attn.k_norm)) or not is_identity(getattr(attn, "norm", None)):
            raise Unsupported(f"{where}.attn has qk_norm / scale_norm")
        if type(block.mlp) is not Mlp or type(block.mlp.act) is not nn.GELU or block.mlp.act.approximate != "none" \
                or not is_identity(getattr(block.mlp, "norm", None)):
            raise Unsupported(f"{where}.mlp is not an exact-GELU Mlp ({block.mlp})")
        for name in ("norm1", "norm2"):
            e = layer_norm_eps(getattr(block, name), f"{where}.{name}")
            if eps is not None and e != eps:
                raise Unsupported(f"{where}.{name} eps {e} differs from {eps}")
            eps = e
    if len(model.blocks) == 0:
        raise Unsupported("depth 0")
    b0 = model.blocks[0]
    heads = b0.attn.num_heads
    hidden = b0.mlp.fc1.out_features
    has_ls = isinstance(b0.ls1, LayerScale)
    for i, block in enumerate(model.blocks):
        if isinstance(block.ls1, LayerScale) != has_ls or isinstance(block.ls2, LayerScale) != has_ls:
            raise Unsupported(f"blocks.{i}: LayerScale present in some blocks only")
        if block.attn.num_heads != heads or block.mlp.fc1.out_features != hidden:
            raise Unsupported(f"blocks.{i}: heads or MLP width differ between blocks")
    mlp_ratio = hidden / dim
    if int(torch.tensor(dim, dtype=torch.float32) * torch.tensor(mlp_ratio, dtype=torch.float32)) != hidden:
        raise Unsupported(f"MLP width {hidden} is not int(dim * ratio) for a float32 ratio")
    pool = "token" if model.global_pool == "token" else "average"
    if pool == "token":
        if is_identity(model.norm) or not is_identity(model.fc_norm):
            raise Unsupported("token pooling needs the final norm and no fc_norm")
        final_eps = layer_norm_eps(model.norm, "norm")
    else:
        if not is_identity(model.norm) or is_identity(model.fc_norm):
            raise Unsupported("average pooling needs fc_norm and no final norm (fc_norm=False is not supported)")
        final_eps = layer_norm_eps(model.fc_norm, "fc_norm")
    if final_eps != eps:
        raise Unsupported(f"final norm eps {final_eps} differs from the blocks' {eps}")
    has_cls = model.cls_token is not None
    if model.num_prefix_tokens != int(has_cls):
        raise Unsupported(f"{model.num_prefix_tokens} prefix tokens")
    if pool == "token" and not has_cls:
        raise Unsupported("token pooling without a class token")
    if is_identity(model.head):
        classes = 0
    elif isinstance(model.head, nn.Linear) and model.head.bias is not None:
        classes = model.head.out_features
    else:
        raise Unsupported(f"head is {type(model.head).__name__}")
    patches = (image[0] // patch[0]) ** 2
    embed_cls = not model.no_embed_class
    expected = (1, patches + (int(has_cls) if embed_cls else 0), dim)
    if tuple(model.pos_embed.shape) != expected:
        raise Unsupported(f"pos_embed shape {tuple(model.pos_embed.shape)}, expected {expected}")
    # The names of Loupe's vit(...) arguments (m.config in the language).
    config = dict(image_size=image[0], patch=patch[0], dim=dim, depth=len(model.blocks), heads=heads,
                  classes=classes, channels=pe.proj.in_channels, mlp_ratio=mlp_ratio, class_token=has_cls,
                  position_embeds_class_token=embed_cls, pool=pool, eps=eps)
    if has_ls:
        # Only presence matters once weights are loaded; the mean gamma stands for init_values.
        config["layer_scale"] = float(b0.ls1.gamma.detach().float().mean())
    return config


def imagenet_class_names():
    """ImageNet-1k class descriptions from timm's tables ("tench, Tinca tinca"), or
    torchvision's category names when this timm lacks them."""
    try:
        from timm.data import ImageNetInfo
        info = ImageNetInfo()
        return [info.index_to_description(i) for i in range(1000)]
    except Exception:  # older timm
        from torchvision.models import ResNet50_Weights
        return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


def parse_sets(items):
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--set expects key=value, got '{item}'")
        try:
            kwargs[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kwargs[key] = value
    return kwargs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="timm model name, e.g. vit_base_patch16_224, deit3_small_patch16_224")
    parser.add_argument("out", help="output .safetensors")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="timm's pretrained weights (downloads)")
    weights.add_argument("--checkpoint", metavar="FILE", help="weights to load (.safetensors / .pth, strict)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="timm constructor argument")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    parser.add_argument("--check", action="store_true", help="also write OUT.check.safetensors (input, logits)")
    parser.add_argument("--perturb", action="store_true", help=argparse.SUPPRESS)  # tests: noise everywhere
    args = parser.parse_args()

    import timm
    torch.manual_seed(args.seed)
    kwargs = parse_sets(args.set)
    try:
        model = timm.create_model(args.model, pretrained=args.pretrained, **kwargs)
    except RuntimeError as error:
        if "Unknown model" in str(error):
            fail(f"timm has no model '{args.model}' (timm.list_models('vit*') lists ViTs)")
        if args.pretrained:
            fail(f"could not get pretrained weights for '{args.model}': {error}\n"
                 "  (no network? download them elsewhere and pass --checkpoint FILE)")
        raise
    except Exception as error:  # network and hub errors come in many types
        if args.pretrained:
            fail(f"could not get pretrained weights for '{args.model}': {type(error).__name__}: {error}\n"
                 "  (no network? download them elsewhere and pass --checkpoint FILE)")
        fail(f"could not build '{args.model}' with {kwargs}: {type(error).__name__}: {error}")
    if args.checkpoint:
        from timm.models import load_checkpoint
        try:
            load_checkpoint(model, args.checkpoint, strict=True)
        except Exception as error:
            fail(f"could not load '{args.checkpoint}' into {args.model}: {error}")
    model.eval()
    if args.perturb:
        perturb(model, args.seed + 1)
    try:
        config = vit_config(model)
    except Unsupported as error:
        fail(f"{args.model} cannot be converted to a Loupe ViT: {error}")
    classes = imagenet_class_names() if config["classes"] == 1000 else None
    cfg = getattr(model, "pretrained_cfg", None) or {}
    preprocess = {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()
                  if k in ("mean", "std", "input_size", "interpolation", "crop_pct")}
    extra = {"loupe.source": f"timm {timm.__version__} {args.model}"}
    if preprocess:
        extra["loupe.preprocess"] = json.dumps(preprocess, sort_keys=True, separators=(",", ":"))
    write_checkpoint(model, args.out, "vit", config, classes, extra)
    print(f"wrote {args.out}: {args.model}, {sum(p.numel() for p in model.parameters())} parameters, config {config}")
    if args.check:
        write_check(model, args.out, config["channels"], config["image_size"], seed=args.seed)


if __name__ == "__main__":
    main()
