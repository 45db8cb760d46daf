#!/usr/bin/env python3
"""Converts an NVlabs StyleGAN2-ADA network pickle into a Loupe checkpoint.

    python3 Scripts/export_stylegan2.py --repo /path/to/stylegan2-ada-pytorch NETWORK.pkl OUT.safetensors
        [--discriminator] [--check]

NETWORK.pkl is a pickle written by NVlabs/stylegan2-ada-pytorch's training loop (`ffhq.pkl` and
the like; a URL works too), read with the checkout's own `legacy.load_network_pkl`, which also
converts the TensorFlow StyleGAN2 pickles. Unpickling runs code (NVlabs' pickles carry the source
of their networks): convert only pickles you trust. Loupe itself never reads pickles.

OUT holds every parameter and buffer of `G_ema` under its NVlabs state-dict name
(`mapping.fc0.weight`, `mapping.w_avg`, `synthesis.b4.const`, `synthesis.b8.conv0.affine.weight`,
`synthesis.b8.conv0.noise_const`, `synthesis.b8.resample_filter`, ...) in float32, and
`__metadata__` entries `loupe.architecture` ("stylegan2"), `loupe.config` (the generator's shape,
keyed by the language's `stylegan2(...)` argument names, read from `G_ema.init_kwargs`) and `format`
("pt"). `num_fp16_res` is ignored: NVlabs keeps its parameters in float32 and only computes in
float16, and Loupe computes in float32. Configurations Loupe cannot represent (the 'resnet'
generator, other activations, resampling filters or kernel sizes, no noise inputs) are refused with
exit status 2.

`--discriminator` also writes OUT.D.safetensors with `D` ("stylegan2_discriminator"; Loupe's is the
unconditional 'resnet' one). `--check` also writes OUT.check.safetensors with `z` [2, z_dim]
(seed 0), `c` (zeros, conditional models only) and `image`, `G_ema(z, c, truncation_psi=1,
noise_mode='const')` computed in float32, for comparing with Loupe; with `--discriminator`,
OUT.D.check.safetensors holds that `image` and D's `logits` for it.
"""
import argparse
import inspect
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import check_path, config_json, fail, save_file  # noqa: E402

FILTER = [1, 3, 3, 1]


def defaults(*modules):
    """The named arguments of the modules' constructors with their defaults (`empty` when
    required). NVlabs' persistence wrapper hides them behind `*args, **kwargs`: the first
    constructor in each MRO with named parameters is the network's own."""
    result = {}
    for module in modules:
        for cls in type(module).__mro__:
            init = cls.__dict__.get("__init__")
            params = list(inspect.signature(init).parameters.values())[1:] if init else []
            if not params or any(p.kind == p.VAR_POSITIONAL for p in params):
                continue
            for p in params:
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    result.setdefault(p.name, p.default)
            break
    return result


def arguments(given, modules, what):
    known = defaults(*modules)
    unknown = sorted(set(given) - set(known))
    if unknown:
        fail(f"{what} has arguments Loupe does not know: {', '.join(unknown)}")
    return {**known, **given}


def generator_config(G):
    kwargs = dict(G.init_kwargs)
    known = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        fail(f"G_ema has arguments Loupe does not know: {', '.join(unknown)}")
    mapping = arguments(dict(kwargs.get("mapping_kwargs") or {}), [G.mapping], "mapping_kwargs")
    first = getattr(G.synthesis, f"b{G.synthesis.block_resolutions[0]}")
    synthesis = arguments(dict(kwargs.get("synthesis_kwargs") or {}), [G.synthesis, first, first.conv1], "synthesis_kwargs")
    if synthesis["architecture"] not in ("skip", "orig"):
        fail(f"architecture '{synthesis['architecture']}': Loupe's StyleGAN2 generator is 'skip' or 'orig'")
    for name, value in (("mapping activation", mapping["activation"]), ("synthesis activation", synthesis["activation"])):
        if value != "lrelu":
            fail(f"{name} '{value}': Loupe's StyleGAN2 uses 'lrelu'")
    if list(synthesis["resample_filter"]) != FILTER:
        fail(f"resample_filter {list(synthesis['resample_filter'])}: Loupe's StyleGAN2 uses {FILTER}")
    if synthesis["kernel_size"] != 3 or not synthesis["use_noise"]:
        fail("Loupe's StyleGAN2 has 3x3 synthesis convolutions with noise inputs "
             f"(kernel_size {synthesis['kernel_size']}, use_noise {synthesis['use_noise']})")
    return {"z_dim": kwargs["z_dim"], "w_dim": kwargs["w_dim"], "resolution": kwargs["img_resolution"],
            "channels": kwargs["img_channels"], "classes": kwargs["c_dim"], "channel_base": synthesis["channel_base"],
            "channel_max": synthesis["channel_max"], "mapping_layers": mapping["num_layers"],
            "architecture": synthesis["architecture"], "conv_clamp": synthesis["conv_clamp"],
            "mapping_lr_multiplier": mapping["lr_multiplier"], "w_avg_beta": mapping["w_avg_beta"],
            "embed_features": mapping["embed_features"], "layer_features": mapping["layer_features"]}


def discriminator_config(D):
    kwargs = arguments(dict(D.init_kwargs), [D], "D")
    block = arguments(dict(kwargs["block_kwargs"] or {}), [getattr(D, f"b{D.block_resolutions[0]}")], "D block_kwargs")
    epilogue = arguments(dict(kwargs["epilogue_kwargs"] or {}), [D.b4], "D epilogue_kwargs")
    if kwargs["architecture"] != "resnet" or kwargs["c_dim"] != 0:
        fail(f"D ('{kwargs['architecture']}', c_dim {kwargs['c_dim']}): Loupe's StyleGAN2 discriminator is the "
             "unconditional 'resnet' one")
    if block["activation"] != "lrelu" or epilogue["activation"] != "lrelu" or list(block["resample_filter"]) != FILTER:
        fail(f"D: Loupe's StyleGAN2 discriminator uses 'lrelu' and the resample filter {FILTER}")
    if epilogue["mbstd_group_size"] is None:
        fail("D: mbstd_group_size None (the whole batch) is not supported; Loupe needs a group size")
    return {"resolution": kwargs["img_resolution"], "channels": kwargs["img_channels"], "classes": kwargs["c_dim"],
            "channel_base": kwargs["channel_base"], "channel_max": kwargs["channel_max"],
            "architecture": kwargs["architecture"], "conv_clamp": kwargs["conv_clamp"],
            "mbstd_group_size": epilogue["mbstd_group_size"], "mbstd_num_channels": epilogue["mbstd_num_channels"]}


def write(tensors, path, metadata):
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata)
    os.replace(tmp, path)


def export(model, path, architecture, config):
    state = {k: v.detach().to(torch.float32).contiguous().cpu() for k, v in model.state_dict().items()}
    write(state, path, {"format": "pt", "loupe.architecture": architecture, "loupe.config": config_json(config)})
    print(f"wrote {path}: {len(state)} tensors, config {config_json(config)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="a checkout of NVlabs/stylegan2-ada-pytorch")
    parser.add_argument("network", help="network pickle (path or URL)")
    parser.add_argument("out", help="output .safetensors")
    parser.add_argument("--discriminator", action="store_true", help="also write OUT.D.safetensors with D")
    parser.add_argument("--check", action="store_true", help="also write OUT.check.safetensors (z, image)")
    args = parser.parse_args()
    if not args.out.endswith(".safetensors"):
        fail(f"output '{args.out}' must end in .safetensors")
    if not os.path.isfile(os.path.join(args.repo, "legacy.py")):
        fail(f"--repo {args.repo}: not a checkout of NVlabs/stylegan2-ada-pytorch (no legacy.py)")
    sys.path.insert(0, os.path.abspath(args.repo))
    import dnnlib
    import legacy
    try:
        with dnnlib.util.open_url(args.network) as f:
            data = legacy.load_network_pkl(f)
    except Exception as error:  # noqa: BLE001
        fail(f"{args.network}: cannot be read as a StyleGAN2-ADA network pickle ({type(error).__name__}: {error})")
    G, D = data["G_ema"].eval(), data["D"].eval()
    config = generator_config(G)
    d_config = discriminator_config(D) if args.discriminator else None
    export(G, args.out, "stylegan2", config)
    d_out = args.out[: -len(".safetensors")] + ".D.safetensors"
    if args.discriminator:
        export(D, d_out, "stylegan2_discriminator", d_config)
    if args.check:
        z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(0))
        c = torch.zeros(2, G.c_dim)
        with torch.no_grad():
            image = G(z, c, truncation_psi=1, noise_mode="const", force_fp32=True)
        write({"z": z, "image": image, **({"c": c} if G.c_dim else {})}, check_path(args.out), {"format": "pt"})
        print(f"wrote {check_path(args.out)}: z {list(z.shape)}, image {list(image.shape)}")
        if args.discriminator:
            with torch.no_grad():
                logits = D(image, c, force_fp32=True)
            write({"image": image, "logits": logits}, check_path(d_out), {"format": "pt"})
            print(f"wrote {check_path(d_out)}: logits {logits.flatten().tolist()}")


if __name__ == "__main__":
    main()
