#!/usr/bin/env python3
"""Converts a torchvision ResNet into a Loupe checkpoint.

    python3 Scripts/export_torchvision.py resnet18|resnet34|resnet50 OUT.safetensors
        [--pretrained | --checkpoint FILE] [--classes N] [--width W] [--check] [--seed N]

The file holds torchvision's state-dict names (`layer2.0.conv1.weight`, `fc.bias`, batch-norm
running statistics) and `__metadata__` entries `loupe.architecture` ("resnet"), `loupe.config`
(Loupe's ResNetConfig as JSON, keyed by the names of the language's `resnet(...)` arguments), `loupe.classes` (ImageNet category names from torchvision's
weights tables when the model has 1000 classes), `loupe.preprocess` and `format` ("pt").
Without `--pretrained` or `--checkpoint` the weights are torchvision's random initialisation
(seeded by `--seed`). `--width` narrows every stage (layer1 has W channels instead of 64; the
same torchvision blocks, for small test checkpoints). `--check` also writes
OUT.check.safetensors with an input and torchvision's logits.
"""
import argparse
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import fail, perturb, write_check, write_checkpoint  # noqa: E402

import torchvision  # noqa: E402
from torchvision.models import resnet as tv  # noqa: E402

MODELS = {
    # name: depth, block, stage blocks, weights enum, pretrained weights
    "resnet18": (18, tv.BasicBlock, [2, 2, 2, 2], tv.ResNet18_Weights, "IMAGENET1K_V1"),
    "resnet34": (34, tv.BasicBlock, [3, 4, 6, 3], tv.ResNet34_Weights, "IMAGENET1K_V1"),
    "resnet50": (50, tv.Bottleneck, [3, 4, 6, 3], tv.ResNet50_Weights, "IMAGENET1K_V2"),
}


class NarrowResNet(tv.ResNet):
    """torchvision's ResNet with `width` channels in layer1 instead of 64 (same module names,
    blocks and initialisation)."""

    def __init__(self, block, layers, num_classes, width):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = width
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(MODELS), help="torchvision ResNet")
    parser.add_argument("out", help="output .safetensors")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", action="store_true", help="torchvision's ImageNet weights (downloads)")
    weights.add_argument("--checkpoint", metavar="FILE", help="state dict to load (.safetensors / .pth, strict)")
    parser.add_argument("--classes", type=int, default=1000, help="classifier outputs (random init only)")
    parser.add_argument("--width", type=int, default=64, help="channels of layer1 (random init only)")
    parser.add_argument("--image-size", type=int, default=224, help="input size of the --check input")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random initialisation")
    parser.add_argument("--check", action="store_true", help="also write OUT.check.safetensors (input, logits)")
    parser.add_argument("--perturb", action="store_true", help=argparse.SUPPRESS)  # tests: noise everywhere
    args = parser.parse_args()

    depth, block, layers, weights_enum, tag = MODELS[args.model]
    if args.width <= 0 or args.classes <= 0:
        fail("--width and --classes must be positive")
    if args.pretrained and (args.width != 64 or args.classes != 1000):
        fail("--pretrained weights exist only for --width 64 and --classes 1000")
    torch.manual_seed(args.seed)
    pretrained = getattr(weights_enum, tag)
    if args.pretrained:
        try:
            model = getattr(torchvision.models, args.model)(weights=pretrained)
        except Exception as error:  # URLError, HTTPError, hash mismatch, ...
            fail(f"could not get pretrained weights {weights_enum.__name__}.{tag}: {type(error).__name__}: {error}\n"
                 "  (no network? download them elsewhere and pass --checkpoint FILE)")
    else:
        model = NarrowResNet(block, layers, args.classes, args.width)
    if args.checkpoint:
        try:
            if args.checkpoint.endswith(".safetensors"):
                from safetensors.torch import load_file
                state = load_file(args.checkpoint)
            else:
                state = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
                for key in ("state_dict", "model"):
                    if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                        state = state[key]
            model.load_state_dict(state, strict=True)
        except Exception as error:
            fail(f"could not load '{args.checkpoint}' into {args.model}: {error}")
    model.eval()
    if args.perturb:
        perturb(model, args.seed + 1)
    # The names of Loupe's resnet(...) arguments (m.config in the language); torchvision's stem.
    config = dict(depth=depth, classes=model.fc.out_features, channels=3, width=args.width, small=False)
    classes = list(pretrained.meta["categories"]) if config["classes"] == 1000 else None
    transforms = pretrained.transforms()
    preprocess = dict(mean=list(transforms.mean), std=list(transforms.std),
                      input_size=[3, transforms.crop_size[0], transforms.crop_size[0]],
                      resize_size=transforms.resize_size[0], interpolation=transforms.interpolation.value)
    extra = {"loupe.source": f"torchvision {torchvision.__version__} {args.model}",
             "loupe.preprocess": json.dumps(preprocess, sort_keys=True, separators=(",", ":"))}
    write_checkpoint(model, args.out, "resnet", config, classes, extra)
    print(f"wrote {args.out}: {args.model}, {sum(p.numel() for p in model.parameters())} parameters, config {config}")
    if args.check:
        write_check(model, args.out, 3, args.image_size, seed=args.seed)


if __name__ == "__main__":
    main()
