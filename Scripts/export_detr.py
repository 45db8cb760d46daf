#!/usr/bin/env python3
"""Converts a DETR checkpoint into a Loupe checkpoint.

    python3 Scripts/export_detr.py CHECKPOINT OUT.safetensors [--heads 8] [--check]

CHECKPOINT is one of
  - a facebookresearch/detr checkpoint (`detr-r50-e632da11.pth` and the like: a dict whose
    "model" entry is the state dict), read with `torch.load(..., weights_only=True)`, so the file
    cannot run code;
  - a transformers `DetrForObjectDetection` state dict (transformers 4 or 5 names, timm
    backbone): a `model.safetensors` or `pytorch_model.bin` file, or the directory holding one
    (keys `model.backbone.conv_encoder.model...` or `model.backbone.model...`,
    `model.encoder.layers.N.self_attn.q_proj`, `class_labels_classifier`, `bbox_predictor`).

The output holds facebookresearch/detr's state-dict names (transformers' q/k/v projections are
packed into `in_proj_weight`), and `__metadata__` entries `loupe.architecture` ("detr"),
`loupe.config` (Loupe's DETRConfig, keyed by the language's `detr(...)` argument names),
`loupe.classes` (COCO's 91 category ids with their names, "N/A" for unused ids, when the model has
91 classes) and `format` ("pt"). The number of attention heads is not in the weights: DETR's
checkpoints use 8 (`--heads`). Everything else (backbone depth and width, layers, queries, widths)
is read from the tensors' names and shapes.

`--check` also writes OUT.check.safetensors with an input image batch and the model's
`pred_logits` and `pred_boxes` (run with facebookresearch/detr's code when DETR_REPO names a
checkout of it), for comparing with Loupe.
"""
import argparse
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import fail, save_file, config_json  # noqa: E402

# COCO's category ids 0-90 as DETR's class indices (DETR's demo notebook), "N/A" where unused.
COCO_CLASSES = [
    "N/A", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "N/A", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "N/A", "backpack", "umbrella", "N/A", "N/A", "handbag", "tie",
    "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "N/A", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair", "couch", "potted plant", "bed", "N/A", "dining table", "N/A", "N/A", "toilet", "N/A", "tv",
    "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "N/A", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
]
assert len(COCO_CLASSES) == 91


def load_state(path):
    if os.path.isdir(path):
        for name in ("model.safetensors", "pytorch_model.bin"):
            if os.path.exists(os.path.join(path, name)):
                return load_state(os.path.join(path, name))
        fail(f"{path}: no model.safetensors or pytorch_model.bin in the directory")
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001
        fail(f"{path}: cannot be read as a weights-only PyTorch checkpoint ({error})")
    if isinstance(loaded, dict) and "model" in loaded and isinstance(loaded["model"], dict):
        loaded = loaded["model"]
    if not isinstance(loaded, dict):
        fail(f"{path}: expected a state dict, got {type(loaded).__name__}")
    return loaded


# transformers 4 and 5 name a layer's parts differently (`out_proj` / `o_proj`, `fc1` / `mlp.fc1`).
HF_LAYER = [
    (r"self_attn\.(out|o)_proj\.", "self_attn.out_proj."),
    (r"encoder_attn\.(out|o)_proj\.", "multihead_attn.out_proj."),
    (r"self_attn_layer_norm\.", "norm1."),
    (r"(mlp\.)?fc1\.", "linear1."),
    (r"(mlp\.)?fc2\.", "linear2."),
]
HF_BACKBONE = ("model.backbone.conv_encoder.model.", "model.backbone.model.")


def from_transformers(state):
    """transformers' DetrForObjectDetection names to facebookresearch/detr's."""
    out = {}
    packed = {}
    for key, value in state.items():
        k = key
        backbone = next((p for p in HF_BACKBONE if k.startswith(p)), None)
        if backbone:
            k = "backbone.0.body." + k[len(backbone):]
            if k.endswith("num_batches_tracked"):
                continue
        elif k.startswith("model.input_projection."):
            k = "input_proj." + k[len("model.input_projection."):]
        elif k.startswith("model.query_position_embeddings."):
            k = "query_embed." + k[len("model.query_position_embeddings."):]
        elif k.startswith("class_labels_classifier."):
            k = "class_embed." + k[len("class_labels_classifier."):]
        elif k.startswith("bbox_predictor."):
            k = "bbox_embed." + k[len("bbox_predictor."):]
        elif k.startswith("model.decoder.layernorm."):
            k = "transformer.decoder.norm." + k[len("model.decoder.layernorm."):]
        elif re.match(r"model\.(encoder|decoder)\.layers\.\d+\.", k):
            part, index, rest = re.match(r"model\.(encoder|decoder)\.layers\.(\d+)\.(.*)", k).groups()
            prefix = f"transformer.{part}.layers.{index}."
            m = re.match(r"(self_attn|encoder_attn)\.(q|k|v)_proj\.(weight|bias)", rest)
            if m:
                attention = "self_attn" if m.group(1) == "self_attn" else "multihead_attn"
                packed.setdefault((prefix + attention, m.group(3)), {})[m.group(2)] = value
                continue
            if part == "decoder":
                rest = rest.replace("encoder_attn_layer_norm.", "norm2.").replace("final_layer_norm.", "norm3.")
            else:
                rest = rest.replace("final_layer_norm.", "norm2.")
            for pattern, replacement in HF_LAYER:
                rest = re.sub("^" + pattern, replacement, rest)
            k = prefix + rest
        else:
            fail(f"unexpected transformers key '{key}'")
        out[k] = value
    for (prefix, kind), parts in packed.items():
        if set(parts) != {"q", "k", "v"}:
            fail(f"{prefix}: q, k and v projections are not all present ({sorted(parts)})")
        out[f"{prefix}.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def infer_config(state, heads):
    def need(key):
        if key not in state:
            fail(f"the checkpoint has no '{key}'; is it a DETR?")
        return state[key]

    classes = need("class_embed.weight").shape[0] - 1
    queries, dim = need("query_embed.weight").shape
    count = lambda pattern: len({m.group(1) for k in state for m in [re.match(pattern, k)] if m})  # noqa: E731
    encoder_layers = count(r"transformer\.encoder\.layers\.(\d+)\.")
    decoder_layers = count(r"transformer\.decoder\.layers\.(\d+)\.")
    ffn = need("transformer.decoder.layers.0.linear1.weight").shape[0]
    width = need("backbone.0.body.conv1.weight").shape[0]
    channels = need("backbone.0.body.conv1.weight").shape[1]
    bottleneck = any(k.startswith("backbone.0.body.layer1.0.conv3.") for k in state)
    blocks = [count(rf"backbone\.0\.body\.layer{i}\.(\d+)\.") for i in range(1, 5)]
    depths = {(False, (2, 2, 2, 2)): 18, (False, (3, 4, 6, 3)): 34, (True, (3, 4, 6, 3)): 50, (True, (3, 4, 23, 3)): 101}
    depth = depths.get((bottleneck, tuple(blocks)))
    if depth is None:
        fail(f"the backbone's blocks {blocks} ({'bottleneck' if bottleneck else 'basic'}) are not a ResNet-18/34/50/101")
    if dim % heads:
        fail(f"dim {dim} is not divisible by --heads {heads}")
    return {"classes": classes, "queries": queries, "dim": dim, "heads": heads, "encoder_layers": encoder_layers,
            "decoder_layers": decoder_layers, "ffn": ffn, "backbone": f"resnet{depth}", "width": width,
            "channels": channels, "frozen_batch_norm": True, "eval_size": 800, "eval_max_size": 1333}


def write_reference(run, path):
    """Writes `path` with an input batch [1, 3, 96, 128] (seeded normal values on a 1/64 grid, exact
    in float32) and `run(input)`'s `pred_logits` and `pred_boxes`."""
    generator = torch.Generator().manual_seed(0)
    x = torch.round(torch.randn(1, 3, 96, 128, generator=generator) * 64) / 64
    with torch.no_grad():
        result = run(x)
    save_file({"input": x, "pred_logits": result["pred_logits"].contiguous(), "pred_boxes": result["pred_boxes"].contiguous()},
              path + ".tmp", metadata={"format": "pt"})
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")


def write_check(state, config, out):
    root = os.environ.get("DETR_REPO")
    if not root:
        fail("--check needs DETR_REPO, a checkout of facebookresearch/detr, to run the reference model")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    from models_detr import build  # noqa: E402
    model = build(root, config["backbone"], config["classes"], config["queries"], config["dim"], config["heads"],
                  config["encoder_layers"], config["decoder_layers"], config["ffn"])
    model.load_state_dict(state, strict=True)
    base = out[: -len(".safetensors")]
    write_reference(lambda x: model(x), base + ".check.safetensors")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("out")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if not args.out.endswith(".safetensors"):
        fail(f"output '{args.out}' must end in .safetensors")
    state = load_state(args.checkpoint)
    if any(k.startswith(HF_BACKBONE) or k.startswith("class_labels_classifier.") for k in state):
        state = from_transformers(state)
    state = {k: v.to(torch.float32) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    config = infer_config(state, args.heads)
    metadata = {"format": "pt", "loupe.architecture": "detr", "loupe.config": config_json(config)}
    if config["classes"] == 91:
        import json
        metadata["loupe.classes"] = json.dumps(COCO_CLASSES, separators=(",", ":"))
    tmp = args.out + ".tmp"
    save_file(state, tmp, metadata)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(state)} tensors, config {config_json(config)}")
    if args.check:
        write_check(state, config, args.out)


if __name__ == "__main__":
    main()
