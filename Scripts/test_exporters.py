#!/usr/bin/env python3
"""Tests the converters' refusal paths: Scripts/export_timm.py refuses every timm ViT
configuration Loupe's ViT cannot represent, naming the reason (and converts the ones it can),
and Scripts/export_torchvision.py refuses bad arguments with exit status 2 and a message.

    python3 Scripts/test_exporters.py

Needs torch, timm and torchvision (from PyPI); without them it says so and exits 0, since the
converters are optional tools. torch and torchvision must be the same build: PyPI's torchvision
wheel loads only beside PyPI's own torch (a `+cpu` torch leaves torchvision's operators
unregistered, "operator torchvision::nms does not exist"). The Swift suite checks the Loupe side (altered converted files
are refused: Tests/LoupeModelsTests/ConvertedFileRefusalTests.swift).
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

try:
    import timm  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401
except ImportError as error:  # the converters are optional tools
    print(f"skipped: {error.name} is not installed (pip install torch timm torchvision)")
    sys.exit(0)

from export_common import Unsupported  # noqa: E402
from export_timm import vit_config  # noqa: E402

SMALL = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10)


def build(**overrides):
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(**{**SMALL, **overrides}).eval()


class TimmRefusals(unittest.TestCase):
    def assertRefused(self, reason, model):
        with self.assertRaises(Unsupported) as caught:
            vit_config(model)
        self.assertIn(reason, str(caught.exception))

    def test_supported_configurations_convert(self):
        config = vit_config(build())
        self.assertEqual((config["image_size"], config["patch"], config["dim"], config["depth"], config["heads"]),
                         (32, 8, 32, 2, 2))
        self.assertEqual(config["pool"], "token")
        self.assertEqual(vit_config(build(global_pool="avg", class_token=False, fc_norm=True))["pool"], "average")
        self.assertIn("layer_scale", vit_config(build(init_values=0.1, no_embed_class=True)))

    def test_unsupported_configurations_are_refused_with_the_reason(self):
        self.assertRefused("register tokens", build(reg_tokens=2))
        self.assertRefused("dynamic_img_size", build(dynamic_img_size=True))
        self.assertRefused("pre_norm", build(pre_norm=True))
        self.assertRefused("qkv_bias=False", build(qkv_bias=False))
        self.assertRefused("qk_norm", build(qk_norm=True))
        self.assertRefused("attention pooling", build(global_pool="map"))
        self.assertRefused("global_pool=''", build(global_pool=""))
        unbiased = build()  # timm gives the patch projection no bias only with pre_norm (refused above)
        unbiased.patch_embed.proj.bias = None
        self.assertRefused("patch embedding without bias", unbiased)
        self.assertRefused("no learned position embedding", build(pos_embed="none"))
        # timm's constructor refuses this pair: average pooling with the final norm, then switched.
        tokenless = build(class_token=False, global_pool="avg", fc_norm=False)
        tokenless.global_pool = "token"
        self.assertRefused("token pooling without a class token", tokenless)
        self.assertRefused("not a timm VisionTransformer", torch.nn.Linear(2, 2))

    def test_mixed_blocks_are_refused(self):
        model = build(init_values=0.1)
        model.blocks[1].ls1 = torch.nn.Identity()
        self.assertRefused("LayerScale present in some blocks only", model)
        model = build()
        model.blocks[1].norm1.eps = 1e-5
        self.assertRefused("eps", model)
        model = build()
        model.blocks[0].mlp.act = torch.nn.GELU(approximate="tanh")
        self.assertRefused("exact-GELU", model)

    def test_command_line_refusal_exits_2_with_the_reason(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "x.safetensors")
            r = subprocess.run([sys.executable, os.path.join(HERE, "export_timm.py"), "vit_tiny_patch16_224", out,
                                "--set", "reg_tokens=4"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("cannot be converted to a Loupe ViT: 4 register tokens", r.stderr)
            self.assertFalse(os.path.exists(out))
            r = subprocess.run([sys.executable, os.path.join(HERE, "export_timm.py"), "no_such_model_xyz", out],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("timm has no model 'no_such_model_xyz'", r.stderr)


class TorchvisionRefusals(unittest.TestCase):
    def run_export(self, *args):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "r.safetensors")
            r = subprocess.run([sys.executable, os.path.join(HERE, "export_torchvision.py"), *args[:1], out, *args[1:]],
                               capture_output=True, text=True)
            return r, os.path.exists(out)

    def test_bad_arguments_are_refused(self):
        r, written = self.run_export("resnet18", "--width", "0")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--width and --classes must be positive", r.stderr)
        self.assertFalse(written)
        r, written = self.run_export("resnet18", "--pretrained", "--width", "32")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--pretrained weights exist only for --width 64 and --classes 1000", r.stderr)
        self.assertFalse(written)
        r, written = self.run_export("resnet101")
        self.assertEqual(r.returncode, 2, r.stderr)  # argparse: not a choice
        self.assertFalse(written)

    def test_a_checkpoint_that_does_not_fit_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "bad.pth")
            torch.save({"conv1.weight": torch.zeros(1)}, bad)
            r, written = self.run_export("resnet18", "--checkpoint", bad)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(f"could not load '{bad}' into resnet18", r.stderr)
            self.assertFalse(written)


if __name__ == "__main__":
    unittest.main()
