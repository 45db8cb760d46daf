#!/usr/bin/env python3
"""Tests the converters' refusal paths: Scripts/export_timm.py refuses every timm ViT
configuration Loupe's ViT cannot represent, naming the reason (and converts the ones it can),
and Scripts/export_torchvision.py refuses bad arguments with exit status 2 and a message.
Scripts/export_detr.py converts a facebookresearch/detr checkpoint and a transformers
DetrForObjectDetection state dict (both randomised DETR-R50s) to files that Loupe's built
`loupe` (.build/release/loupe) loads and runs to the reference outputs within 1e-4; those tests
need DETR_REPO (a checkout of facebookresearch/detr) and transformers, and are skipped without.
Scripts/export_stylegan2.py converts a pickle of small randomised NVlabs networks (written the way
NVlabs' training loop writes them) to files holding exactly their state dicts, with the expected
configurations and `--check` images, and refuses what Loupe cannot represent; those tests need
STYLEGAN2_REPO (a checkout of NVlabs/stylegan2-ada-pytorch) and only torch.
Scripts/export_dit.py converts a plain DiT state dict and a train.py checkpoint (small randomised
facebookresearch/DiT models) to files holding exactly their state dicts with the configuration
read off the shapes and `--check` outputs DiT reproduces, and refuses what Loupe's DiT cannot
represent (and pickles that would run code); those tests need DIT_REPO (a checkout of
facebookresearch/DiT) and timm.
Scripts/export_vae.py converts small randomised diffusers AutoencoderKLs (a saved diffusers folder,
and lone safetensors / weights-only .pt state dicts with diffusers' old attention names) to files
holding exactly their state dicts under the current names, with the expected configurations and
`--check` outputs, and refuses what Loupe cannot represent; those tests need diffusers.

    python3 Scripts/test_exporters.py

Needs torch, timm and torchvision (from PyPI); without torch it says so and exits 0, since the
converters are optional tools, and without timm or torchvision their tests are skipped. torch and torchvision must be the same build: PyPI's torchvision
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
    import torch  # noqa: F401
except ImportError as error:  # the converters are optional tools
    print(f"skipped: {error.name} is not installed (pip install torch timm torchvision)")
    sys.exit(0)
try:
    import timm  # noqa: F401
    import torchvision  # noqa: F401
    MISSING = None
except ImportError as error:
    MISSING = f"{error.name} is not installed (pip install torch timm torchvision)"

from export_common import Unsupported  # noqa: E402
from export_timm import vit_config  # noqa: E402

SMALL = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10)


def build(**overrides):
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(**{**SMALL, **overrides}).eval()


@unittest.skipIf(MISSING, MISSING)
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


@unittest.skipIf(MISSING, MISSING)
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


LOUPE = os.path.join(HERE, "..", ".build", "release", "loupe")


def randomise(model, seed):
    """Seeded values everywhere (norm weights near one, variances above one) so no part is a no-op."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(1 + 0.5 * torch.rand(t.shape, generator=generator))
            elif t.dim() == 1:
                t.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(t.shape, generator=generator))
            else:
                t.copy_(torch.randn(t.shape, generator=generator) / (t[0].numel() ** 0.5))


@unittest.skipUnless(not MISSING and os.environ.get("DETR_REPO") and os.path.exists(LOUPE),
                     "needs torchvision, DETR_REPO and a release build of loupe")
class DETRConversion(unittest.TestCase):
    def convert_and_compare(self, checkpoint, reference, tmp):
        out = os.path.join(tmp, "converted.safetensors")
        r = subprocess.run([sys.executable, os.path.join(HERE, "export_detr.py"), checkpoint, out], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        script = os.path.join(tmp, "compare.loupe")
        with open(script, "w") as f:
            f.write(f'm = model("{out}")\nref = load_tensors("{reference}")\nout = m(ref.input)\n'
                    'print(abs(out.pred_logits - ref.pred_logits).max().item(), abs(out.pred_boxes - ref.pred_boxes).max().item(), '
                    'len(m.classes), m.classes[1])\n')
        r = subprocess.run([LOUPE, "run", script], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        logits, boxes, classes, first = r.stdout.split()[:4]
        self.assertLess(float(logits), 1e-4)
        self.assertLess(float(boxes), 1e-4)
        self.assertEqual((classes, first), ("91", "person"))

    def test_facebookresearch_checkpoint(self):
        from export_detr import write_reference
        sys.path.insert(0, os.path.join(HERE, "fixtures"))
        from models_detr import build
        model = build(os.environ["DETR_REPO"], "resnet50", 91, 100, 256, 8, 6, 6, 2048)
        randomise(model, 1)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = os.path.join(tmp, "detr.pth")
            torch.save({"model": model.state_dict()}, checkpoint)
            reference = os.path.join(tmp, "reference.safetensors")
            write_reference(lambda x: model(x), reference)
            self.convert_and_compare(checkpoint, reference, tmp)

    def test_transformers_state_dict(self):
        try:
            from transformers import DetrConfig, DetrForObjectDetection
        except ImportError:
            self.skipTest("transformers is not installed")
        from export_detr import write_reference
        from safetensors.torch import save_file
        model = DetrForObjectDetection(DetrConfig(use_pretrained_backbone=False, num_labels=91)).eval()
        randomise(model, 2)

        def run(x):
            out = model(pixel_values=x, pixel_mask=torch.ones(x.shape[0], x.shape[2], x.shape[3], dtype=torch.long))
            return {"pred_logits": out.logits, "pred_boxes": out.pred_boxes}
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = os.path.join(tmp, "model.safetensors")
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, checkpoint)
            reference = os.path.join(tmp, "reference.safetensors")
            write_reference(run, reference)
            self.convert_and_compare(checkpoint, reference, tmp)


STYLEGAN2_REPO = os.environ.get("STYLEGAN2_REPO", "")


@unittest.skipUnless(os.path.isfile(os.path.join(STYLEGAN2_REPO, "legacy.py")),
                     "needs STYLEGAN2_REPO, a checkout of NVlabs/stylegan2-ada-pytorch")
class StyleGAN2Conversion(unittest.TestCase):
    G = dict(z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
             synthesis_kwargs=dict(channel_base=128, channel_max=16, num_fp16_res=2, conv_clamp=256))
    D = dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=128, channel_max=16, num_fp16_res=2, conv_clamp=256)

    @staticmethod
    def networks():
        sys.path.insert(0, os.path.join(HERE, "fixtures"))
        from models_stylegan2 import randomise
        sys.path.insert(0, os.path.abspath(STYLEGAN2_REPO))
        if not hasattr(sys.modules.get("training"), "__path__"):  # Scripts/fixtures/training.py is not NVlabs'
            sys.modules.pop("training", None)
        from training import networks
        return networks, randomise

    def convert(self, tmp, g_kwargs, d_kwargs, *flags):
        """Pickles randomised networks as NVlabs' training loop does and runs the converter on them."""
        import copy
        import pickle
        networks, randomise = self.networks()
        torch.manual_seed(0)
        G, D = networks.Generator(**g_kwargs), networks.Discriminator(**d_kwargs)
        randomise(G, torch.Generator().manual_seed(1))
        randomise(D, torch.Generator().manual_seed(2))
        G_ema = copy.deepcopy(G).eval()
        network = os.path.join(tmp, "network.pkl")
        with open(network, "wb") as f:
            pickle.dump(dict(G=G, D=D, G_ema=G_ema, training_set_kwargs=None, augment_pipe=None), f)
        out = os.path.join(tmp, "g.safetensors")
        r = subprocess.run([sys.executable, os.path.join(HERE, "export_stylegan2.py"), "--repo", STYLEGAN2_REPO, network,
                            out, *flags], capture_output=True, text=True)
        return r, out, G_ema, D

    def assertHoldsState(self, path, model, architecture, config):
        import json
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            metadata = f.metadata()
            self.assertEqual(sorted(f.keys()), sorted(model.state_dict()))
            for name, value in model.state_dict().items():
                self.assertTrue(torch.equal(f.get_tensor(name), value.float()), name)
        self.assertEqual(metadata["loupe.architecture"], architecture)
        self.assertEqual(json.loads(metadata["loupe.config"]), config)

    def test_pickle_converts_to_its_state_dicts(self):
        from safetensors.torch import load_file
        with tempfile.TemporaryDirectory() as tmp:
            r, out, G, D = self.convert(tmp, self.G, self.D, "--discriminator", "--check")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertHoldsState(out, G, "stylegan2", {
                "z_dim": 16, "w_dim": 16, "resolution": 16, "channels": 3, "classes": 3, "channel_base": 128,
                "channel_max": 16, "mapping_layers": 2, "architecture": "skip", "conv_clamp": 256,
                "mapping_lr_multiplier": 0.01, "w_avg_beta": 0.995, "embed_features": None, "layer_features": None})
            self.assertHoldsState(out[:-len(".safetensors")] + ".D.safetensors", D, "stylegan2_discriminator", {
                "resolution": 16, "channels": 3, "classes": 0, "channel_base": 128, "channel_max": 16,
                "architecture": "resnet", "conv_clamp": 256, "mbstd_group_size": 4, "mbstd_num_channels": 1})
            check = load_file(out[:-len(".safetensors")] + ".check.safetensors")
            self.assertEqual(sorted(check), ["c", "image", "z"])
            with torch.no_grad():
                image = G(check["z"], check["c"], truncation_psi=1, noise_mode="const", force_fp32=True)
            torch.testing.assert_close(check["image"], image, rtol=0, atol=1e-5)

    def test_unsupported_configurations_are_refused(self):
        resnet = {**self.G, "synthesis_kwargs": {**self.G["synthesis_kwargs"], "architecture": "resnet"}}
        for g_kwargs, d_kwargs, reason in [(resnet, self.D, "Loupe's StyleGAN2 generator is 'skip' or 'orig'"),
                                           (self.G, {**self.D, "c_dim": 3}, "the unconditional 'resnet' one")]:
            with tempfile.TemporaryDirectory() as tmp:
                r, out, _, _ = self.convert(tmp, g_kwargs, d_kwargs, "--discriminator")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(reason, r.stderr)
                self.assertEqual(sorted(os.listdir(tmp)), ["network.pkl"])



DIT_REPO = os.environ.get("DIT_REPO", "")


class Pickled:
    """A class that pickles by reference: loading it needs code (refused by weights_only)."""


@unittest.skipUnless(os.path.isfile(os.path.join(DIT_REPO, "models.py")) and not MISSING,
                     "needs DIT_REPO, a checkout of facebookresearch/DiT, and timm")
class DiTConversion(unittest.TestCase):
    KWARGS = dict(input_size=8, patch_size=2, in_channels=4, hidden_size=32, depth=3, num_heads=4, mlp_ratio=2.0,
                  class_dropout_prob=0.1, num_classes=5, learn_sigma=True)

    @staticmethod
    def model(**overrides):
        sys.path.insert(0, os.path.join(HERE, "fixtures"))
        from models_dit import randomise
        sys.path.insert(0, os.path.abspath(DIT_REPO))
        from models import DiT
        torch.manual_seed(0)
        model = DiT(**{**DiTConversion.KWARGS, **overrides}).eval()
        randomise(model, torch.Generator().manual_seed(1))
        return model

    def convert(self, tmp, checkpoint, *flags):
        path = os.path.join(tmp, "dit.pt")
        torch.save(checkpoint, path)
        out = os.path.join(tmp, "dit.safetensors")
        r = subprocess.run([sys.executable, os.path.join(HERE, "export_dit.py"), path, out, *flags],
                           capture_output=True, text=True)
        return r, out

    def assertConverted(self, out, model, config):
        import json
        from safetensors import safe_open
        with safe_open(out, "pt") as f:
            metadata = f.metadata()
            self.assertEqual(sorted(f.keys()), sorted(model.state_dict()))
            for name, value in model.state_dict().items():
                self.assertTrue(torch.equal(f.get_tensor(name), value.float()), name)
        self.assertEqual(metadata["loupe.architecture"], "dit")
        self.assertEqual(json.loads(metadata["loupe.config"]), config)

    def test_state_dict_and_training_checkpoint_convert(self):
        import argparse
        from safetensors.torch import load_file
        config = {**self.KWARGS, "parallel_groups": []}
        with tempfile.TemporaryDirectory() as tmp:
            model = self.model()
            r, out = self.convert(tmp, model.state_dict(), "--num-heads", "4", "--check", "--repo", DIT_REPO)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertConverted(out, model, config)
            check = load_file(out[:-len(".safetensors")] + ".check.safetensors")
            with torch.no_grad():
                output = model(check["x"], check["t"], check["y"].long())
            torch.testing.assert_close(check["output"], output, rtol=0, atol=0)
            self.assertEqual(check["y"].tolist(), [0, 4, 5], "the last label is the null class")
        with tempfile.TemporaryDirectory() as tmp:
            ema, raw = self.model(learn_sigma=False, class_dropout_prob=0.0), self.model(learn_sigma=False, class_dropout_prob=0.0)
            with torch.no_grad():
                for p in raw.parameters():
                    p.add_(1)
            checkpoint = {"model": raw.state_dict(), "ema": ema.state_dict(), "opt": {}, "args": argparse.Namespace(model="DiT-S/2")}
            r, out = self.convert(tmp, checkpoint, "--num-heads", "4", "--no-null-class")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertConverted(out, ema, {**config, "learn_sigma": False, "class_dropout_prob": 0.0})
            r, out = self.convert(tmp, checkpoint, "--num-heads", "4", "--no-null-class", "--weights", "model")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertConverted(out, raw, {**config, "learn_sigma": False, "class_dropout_prob": 0.0})

    def test_what_loupe_cannot_represent_is_refused(self):
        state = self.model().state_dict()
        extra = {**state, "blocks.0.attn.q_norm.weight": torch.ones(8)}
        missing = {k: v for k, v in state.items() if k != "blocks.1.mlp.fc2.bias"}
        frequencies = {**state, "t_embedder.mlp.0.weight": torch.zeros(32, 128)}
        channels = {**state, "final_layer.linear.weight": torch.zeros(2 * 2 * 5, 32), "final_layer.linear.bias": torch.zeros(20)}
        gap = {k.replace("blocks.2.", "blocks.4."): v for k, v in state.items()}
        for checkpoint, flags, reason in [
            (state, [], "hidden_size 32 is not a DiT preset's, so the number of heads is unknown: give --num-heads"),
            (extra, ["--num-heads", "4"], "unexpected blocks.0.attn.q_norm.weight"),
            (missing, ["--num-heads", "4"], "missing blocks.1.mlp.fc2.bias"),
            (frequencies, ["--num-heads", "4"], "takes 128 timestep frequencies; Loupe's DiT uses DiT's 256"),
            (channels, ["--num-heads", "4"], "not 2x2 patches of 4 or 8 channels"),
            (gap, ["--num-heads", "4"], "blocks [0, 1, 4]: expected blocks 0..depth-1"),
            (state, ["--num-heads", "5"], "hidden_size 32 is not a multiple of num_heads 5"),
            ({"model": state}, ["--num-heads", "4"], "a training checkpoint without 'ema' weights"),
            ({"x_embedder.proj.weight": Pickled()}, [], "cannot be read as a DiT checkpoint with weights_only=True"),
        ]:
            with tempfile.TemporaryDirectory() as tmp:
                r, _ = self.convert(tmp, checkpoint, *flags)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(reason, r.stderr)
                self.assertEqual(sorted(os.listdir(tmp)), ["dit.pt"])

try:
    import diffusers  # noqa: F401
    NO_DIFFUSERS = None
except ImportError:
    NO_DIFFUSERS = "diffusers is not installed (pip install diffusers)"


@unittest.skipIf(NO_DIFFUSERS, NO_DIFFUSERS)
class VAEConversion(unittest.TestCase):
    CONFIG = dict(block_out_channels=[8, 16], layers_per_block=1, norm_num_groups=4, latent_channels=4, sample_size=16,
                  down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    LOUPE_CONFIG = {"in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": [8, 16],
                    "layers_per_block": 1, "norm_num_groups": 4, "sample_size": 16, "scaling_factor": 0.18215,
                    "shift_factor": None, "use_quant_conv": True, "use_post_quant_conv": True,
                    "mid_block_add_attention": True}

    @staticmethod
    def model(**overrides):
        from diffusers import AutoencoderKL
        torch.manual_seed(0)
        return AutoencoderKL(**{**VAEConversion.CONFIG, **overrides}).eval()

    @staticmethod
    def old_names(state):
        old = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
        renamed = {}
        for name, t in state.items():
            for new, before in old.items():
                name = name.replace(f"attentions.0.{new}.", f"attentions.0.{before}.")
            renamed[name] = t
        return renamed

    def run_converter(self, *args):
        return subprocess.run([sys.executable, os.path.join(HERE, "export_vae.py"), *args], capture_output=True, text=True)

    def assertHoldsState(self, path, model, config):
        import json
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            metadata = f.metadata()
            self.assertEqual(sorted(f.keys()), sorted(model.state_dict()))
            for name, value in model.state_dict().items():
                self.assertTrue(torch.equal(f.get_tensor(name), value.float()), name)
        self.assertEqual(metadata["loupe.architecture"], "autoencoder_kl")
        self.assertEqual(json.loads(metadata["loupe.config"]), config)

    def test_diffusers_folder_converts_with_its_config_and_check(self):
        from safetensors.torch import load_file
        model = self.model(scaling_factor=0.5)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(os.path.join(tmp, "vae"))
            out = os.path.join(tmp, "vae.safetensors")
            r = self.run_converter(os.path.join(tmp, "vae"), out, "--check")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertHoldsState(out, model, {**self.LOUPE_CONFIG, "scaling_factor": 0.5})
            check = load_file(out[:-len(".safetensors")] + ".check.safetensors")
            self.assertEqual(sorted(check), ["image", "input", "latent", "logvar", "mean"])
            with torch.no_grad():
                torch.testing.assert_close(check["image"], model.decode(check["latent"]).sample, rtol=0, atol=0)
                torch.testing.assert_close(check["mean"], model.encode(check["input"]).latent_dist.mean, rtol=0, atol=0)

    def test_lone_state_dicts_with_old_attention_names_convert(self):
        from safetensors.torch import save_file as save_safetensors
        model = self.model()
        old = self.old_names(model.state_dict())
        self.assertIn("encoder.mid_block.attentions.0.proj_attn.weight", old)
        with tempfile.TemporaryDirectory() as tmp:
            pt, st = os.path.join(tmp, "vae.pt"), os.path.join(tmp, "vae_st.safetensors")
            # Old checkpoints stored the projections as 1x1 convolutions in places.
            old_conv = dict(old)
            old_conv["decoder.mid_block.attentions.0.query.weight"] = old["decoder.mid_block.attentions.0.query.weight"][:, :, None, None]
            torch.save({"state_dict": old_conv}, pt)
            save_safetensors({k: v.contiguous() for k, v in old.items()}, st)
            for source in (pt, st):
                out = os.path.join(tmp, "out.safetensors")
                r = self.run_converter(source, out, "--norm-num-groups", "4", "--sample-size", "16")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("renamed 16 tensors", r.stdout)
                self.assertHoldsState(out, model, self.LOUPE_CONFIG)

    def test_unsupported_inputs_are_refused(self):
        import json
        model = self.model()
        with tempfile.TemporaryDirectory() as tmp:
            folder = os.path.join(tmp, "vae")
            model.save_pretrained(folder)
            config_path = os.path.join(folder, "config.json")
            with open(config_path) as f:
                config = json.load(f)
            cases = [({"act_fn": "gelu"}, "act_fn 'gelu'"),
                     ({"up_block_types": ["UpDecoderBlock2D", "AttnUpDecoderBlock2D"]}, "up_block_types"),
                     ({"latents_mean": [0.0] * 4}, "latents_mean is set"),
                     ({"norm_num_groups": 3}, "divisible by norm_num_groups"),
                     ({"layers_per_block": 2}, "do not fit the configuration: missing"),
                     ({"_class_name": "AutoencoderTiny"}, "not an AutoencoderKL")]
            for change, reason in cases:
                with open(config_path, "w") as f:
                    json.dump({**config, **change}, f)
                out = os.path.join(tmp, "out.safetensors")
                r = self.run_converter(folder, out)
                self.assertEqual(r.returncode, 2, f"{change}: {r.stderr}")
                self.assertIn(reason, r.stderr)
                self.assertFalse(os.path.exists(out))
            ldm = os.path.join(tmp, "ldm.pt")
            torch.save({"state_dict": {"first_stage_model.encoder.down.0.block.0.norm1.weight": torch.ones(8)}}, ldm)
            r = self.run_converter(ldm, os.path.join(tmp, "out.safetensors"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("CompVis/LDM key layout", r.stderr)
            misshapen = {k: v for k, v in model.state_dict().items()}
            misshapen["quant_conv.bias"] = torch.zeros(3)
            bad = os.path.join(tmp, "bad.pt")
            torch.save(misshapen, bad)
            r = self.run_converter(bad, os.path.join(tmp, "out.safetensors"), "--norm-num-groups", "4")
            self.assertEqual(r.returncode, 2)
            self.assertIn("quant_conv.bias has shape [3], expected [8]", r.stderr)
            code = os.path.join(tmp, "code.pt")
            torch.save({"model": torch.nn.Linear(2, 2)}, code)
            r = self.run_converter(code, os.path.join(tmp, "out.safetensors"))
            self.assertEqual(r.returncode, 2)
            self.assertIn("weights-only", r.stderr)


if __name__ == "__main__":
    unittest.main()
