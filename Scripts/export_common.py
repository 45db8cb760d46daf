"""Shared by Scripts/export_timm.py and Scripts/export_torchvision.py: writing a Loupe
checkpoint (safetensors with the model's own state-dict names and `loupe.*` metadata), the
`--check` reference (an input and the model's logits), and test-only parameter noise."""
import json
import os
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


class Unsupported(Exception):
    """A model configuration Loupe cannot represent."""


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def config_json(config):
    """The configuration as compact JSON with sorted keys, as Loupe's own save_model writes it: keys
    are the snake_case argument names of the language's constructors (`image_size`, `patch`)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def write_checkpoint(model, path, architecture, config, class_names=None, extra=None):
    """Writes every parameter and buffer under its state-dict name, atomically."""
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    metadata = {"format": "pt", "loupe.architecture": architecture, "loupe.config": config_json(config)}
    if class_names is not None:
        metadata["loupe.classes"] = json.dumps(list(class_names), ensure_ascii=False, separators=(",", ":"))
    metadata.update(extra or {})
    tmp = path + ".tmp"
    save_file(state, tmp, metadata=metadata)
    os.replace(tmp, path)
    return state


def save_file(tensors, path, metadata):
    """safetensors.torch.save_file with a reproducible header (it orders metadata by a hash
    map): `__metadata__` first with sorted keys, tensors sorted by name, data in that order,
    header padded with spaces to a multiple of 8 bytes."""
    names = sorted(tensors)
    header = {"__metadata__": {k: metadata[k] for k in sorted(metadata)}} if metadata else {}
    chunks, offset = [], 0
    for name in names:
        t = tensors[name].detach().contiguous().cpu()
        if t.dtype not in DTYPES:
            raise ValueError(f"tensor {name}: dtype {t.dtype} has no safetensors name here")
        data = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().astype(
            (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


def check_path(path):
    base = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    return base + ".check.safetensors"


def write_check(model, path, channels, size, seed=0):
    """Writes `<OUT>.check.safetensors` holding `input` [2, C, size, size] (seeded normal
    values on a 1/64 grid, exact in float32) and the model's `logits` for it, and prints them."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.round(torch.randn(2, channels, size, size, generator=generator) * 64) / 64
    model.eval()
    with torch.no_grad():
        logits = model(x)
    out = check_path(path)
    tmp = out + ".tmp"
    save_file({"input": x.contiguous(), "logits": logits.contiguous()}, tmp, metadata={"format": "pt"})
    os.replace(tmp, out)
    torch.set_printoptions(precision=6, sci_mode=False)
    print(f"wrote {out}: input {list(x.shape)}, logits {list(logits.shape)}")
    print("logits[:, :5] =", logits[:, :5])
    return out


def perturb(model, seed):
    """Test-only: replaces every floating-point parameter and buffer with seeded noise (norm
    weights and variances near one, LayerScale near 0.5) so that no part of the model is a
    no-op, as random init leaves biases zero and LayerScale tiny."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            noise = torch.randn(t.shape, generator=generator)
            leaf = name.split(".")[-1]
            is_norm = any(part.startswith(("norm", "fc_norm", "bn")) for part in name.split(".")[-2:-1]) \
                or name.split(".")[-2:-1] == ["1"] and "downsample" in name
            if leaf == "running_var":
                t.copy_(1 + 0.5 * noise.abs())
            elif leaf == "gamma":
                t.copy_(0.5 + 0.2 * noise)
            elif leaf == "weight" and t.dim() == 1 and is_norm:
                t.copy_(1 + 0.1 * noise)
            elif t.dim() >= 2:
                t.copy_(noise / (t[0].numel() ** 0.5))
            else:
                t.copy_(0.1 * noise)
