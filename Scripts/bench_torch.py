"""PyTorch side of Scripts/bench: the same workloads as loupe-bench, on 2 threads.

Writes JSON {"torch": version, "rows": {name: {"value": v, "unit": u}}} to the path given as the
first argument (stdout without one). Row names and units match loupe-bench exactly: GFLOPS and
GB/s are higher-is-better, ms lower-is-better. Warm-up, then the median of repeated runs.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
QUICK = "--quick" in sys.argv
FILTER = sys.argv[sys.argv.index("--filter") + 1].lower() if "--filter" in sys.argv else None


def wanted(name):
    return FILTER is None or FILTER in name.lower()


def median_seconds(fn, budget=0.5, min_runs=5, max_runs=30, warmup=2):
    if QUICK:
        budget, min_runs, max_runs, warmup = 0.1, 3, 5, 1
    warm_start = time.perf_counter()
    runs = 0
    while runs < warmup or time.perf_counter() - warm_start < budget / 5:
        fn()
        runs += 1
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_memory_growth(fn):
    """Peak RSS during fn() minus RSS before it (Linux: clear_refs resets VmHWM), after
    returning freed heap memory to the system; None where /proc cannot tell."""
    import ctypes

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return None

    fn()  # warm-up: one-time allocations (thread pools, caches) are not the forward's
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = status("VmRSS")
        fn()
        return max(0, status("VmHWM") - before)
    except OSError:
        return None


def reference_checkout(variable, marker, what):
    """The checkout of a reference repository named by environment variable `variable` (it must
    hold the file `marker`), put first on sys.path; None, with a note on stderr, without it."""
    root = os.environ.get(variable)
    if not root or not os.path.isfile(os.path.join(root, marker)):
        print(f"{variable} not set (or without {marker}): {what} skipped", file=sys.stderr)
        return None
    use_checkout(root)
    return root


def use_checkout(root):
    """Puts `root` first on sys.path and forgets modules already imported under a top-level
    name that `root` also provides: DETR and DiT both have a top-level `models`, and the second
    repository's imports must not resolve to the first one's."""
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)
    provided = {name[:-3] if name.endswith(".py") else name for name in os.listdir(root)}
    for name in list(sys.modules):
        if name.split(".")[0] in provided:
            del sys.modules[name]


def detr_rows(rows):
    """DETR-R50 from facebookresearch/detr's own modules (a checkout named by DETR_REPO, e.g. from
    `git clone https://github.com/facebookresearch/detr`), as loupe-bench's DETRWorkloads: random
    weights (the ResNet built with weights=None and FrozenBatchNorm2d, as detr's Backbone does),
    forward under no_grad at 800x800 and 512x512, and forward plus the gradient of the logits' and
    boxes' sum with respect to the input at 512x512 (a NestedTensor with an all-False mask keeps
    the input on the tape)."""
    names = ["detr-r50 800x800 fwd b1", "detr-r50 512x512 fwd b1", "detr-r50 512x512 fwd+bwd input b1"]
    if not any(wanted(n) for n in names):
        return
    root = os.environ.get("DETR_REPO")
    if not root or not os.path.isdir(os.path.join(root, "models")):
        print("DETR_REPO (a facebookresearch/detr checkout) not set: DETR rows skipped", file=sys.stderr)
        return
    use_checkout(root)
    import torchvision
    from models.backbone import BackboneBase, FrozenBatchNorm2d, Joiner
    from models.detr import DETR
    from models.position_encoding import PositionEmbeddingSine
    from models.transformer import Transformer
    from util.misc import NestedTensor
    torch.manual_seed(800)
    resnet = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=[False, False, False],
                                         norm_layer=FrozenBatchNorm2d)
    joiner = Joiner(BackboneBase(resnet, False, 2048, False), PositionEmbeddingSine(128, normalize=True))
    joiner.num_channels = 2048
    transformer = Transformer(d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                              dropout=0.0, normalize_before=False, return_intermediate_dec=True)
    model = DETR(joiner, transformer, num_classes=91, num_queries=100, aux_loss=True).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(512)

    def sample(size, grad=False):
        x = torch.randn(1, 3, size, size, generator=gen).requires_grad_(grad)
        return x, NestedTensor(x, torch.zeros(1, size, size, dtype=torch.bool))

    for name, size in ((names[0], 800), (names[1], 512)):
        if wanted(name):
            _, samples = sample(size)
            with torch.no_grad():
                rows[name] = {"value": median_seconds(lambda: model(samples), budget=2.0, min_runs=3) * 1e3, "unit": "ms"}
    if wanted(names[2]):
        x, samples = sample(512, grad=True)

        def step():
            out = model(samples)
            (out["pred_logits"].sum() + out["pred_boxes"].sum()).backward()
            x.grad = None
        rows[names[2]] = {"value": median_seconds(step, budget=2.0, min_runs=3) * 1e3, "unit": "ms"}


def long_run_seconds(fn):
    """Seconds of one run of fn when it takes over 10 s; otherwise (that run having warmed up) the
    median of 3 to 5 more after one more warm-up, as loupe-bench's `longRunSeconds`."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first > 10:
        return first
    return median_seconds(fn, budget=0.5, min_runs=3, max_runs=5, warmup=0)


def import_lucent(root):
    """lucent from the checkout `root` (Scripts/lucent_compat.py), or None when it does not import.
    Not through Scripts/fixtures/lucent_render.py: its fixture helpers set 1 thread and
    deterministic algorithms."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import lucent_compat
    try:
        return lucent_compat.import_lucent(root)
    except ImportError as error:
        print(f"lucent at LUCENT_REPO={root} does not import ({error})", file=sys.stderr)
        return None


def visualization_rows(rows):
    """Feature visualization with lucent's own `render_vis` (a greentfrapp/lucent checkout named by
    LUCENT_REPO), as loupe-bench's VisualizationWorkloads: whole runs from lucent's random start
    (`param.image`, Fourier) to the last Adam step (lr 0.05), lucent's standard transforms,
    `progress=False, show_image=False`. Weights are frozen (requires_grad_(False)) as in the other
    rows, so only the image gets a gradient, as in Loupe (lucent leaves them requiring grad, which
    adds their gradients to every step). render_vis hooks every module on each call and never
    removes the hooks, so they are cleared after each run.
    - the shipped demo CNN (Examples/models/cnn-fmnist.safetensors as torchvision's ResNet with
      one BasicBlock per stage, 3x3 stride-1 stem without max pool, widths 16-32-64-128, as in
      Scripts/fixtures/lucent_render.py), `channel("layer3", 5)`, `param.image(28, channels=1)`
      (no decorrelation), preprocess=False, fixed_image_size=28, 512 steps;
    - torchvision's resnet50(weights=None), eval, `channel("layer4", 100)`, `param.image(224)`
      (decorrelated colour), preprocess=True (ImageNet normalisation), fixed_image_size=224, 64
      steps only (512 would take minutes per run); left out of --quick."""
    cnn, resnet = "visualize cnn-fmnist 512 steps", "visualize resnet50 224px 64 steps"
    if not (wanted(cnn) or (wanted(resnet) and not QUICK)):
        return
    root = os.environ.get("LUCENT_REPO")
    if not root or not os.path.isdir(os.path.join(root, "lucent")):
        print("LUCENT_REPO (a greentfrapp/lucent checkout) not set: visualization rows skipped", file=sys.stderr)
        return
    L = import_lucent(root)
    if L is None:
        print("visualization rows skipped", file=sys.stderr)
        return
    import numpy as np
    import torchvision

    def timed(model, objective, image, steps, **options):
        def run():
            torch.manual_seed(0)
            np.random.seed(0)
            try:
                L.render.render_vis(model, objective, image, thresholds=(steps,), progress=False, show_image=False,
                                    **options)
            finally:
                for module in model.modules():
                    module._forward_hooks.clear()
        return long_run_seconds(run) * 1e3

    if wanted(cnn):
        import lucent_compat
        model = lucent_compat.cnn_fmnist()
        model.eval().requires_grad_(False)
        rows[cnn] = {"value": timed(model, L.objectives.channel("layer3", 5), lambda: L.param.image(28, channels=1),
                                    512, preprocess=False, fixed_image_size=28), "unit": "ms"}
        del model
    if wanted(resnet) and not QUICK:
        torch.manual_seed(50)
        model = torchvision.models.resnet50(weights=None).eval().requires_grad_(False)
        rows[resnet] = {"value": timed(model, L.objectives.channel("layer4", 100), lambda: L.param.image(224), 64,
                                       preprocess=True, fixed_image_size=224), "unit": "ms"}
        del model


def dit_rows(rows):
    """DiT with facebookresearch/DiT's own `models.DiT` (a checkout named by DIT_REPO; its
    models.py imports timm), as loupe-bench's DiTWorkloads: DiT_models["DiT-S/2"] and ["DiT-XL/2"]
    for 256-pixel images (input_size 32, 4 latent channels, 1000 classes, learn_sigma), DiT's own
    initialisation with every adaLN and final-layer weight then N(0, 0.02), eval mode; forward
    under no_grad on x [1, 4, 32, 32], t = [500], y = [207]. XL/2 is left out of --quick."""
    names = {"DiT-S/2": "dit-s/2 256px fwd b1", "DiT-XL/2": "dit-xl/2 256px fwd b1"}
    wanted_names = [n for key, n in names.items() if wanted(n) and (key == "DiT-S/2" or not QUICK)]
    if not wanted_names:
        return
    root = reference_checkout("DIT_REPO", "models.py", "dit rows")
    if root is None:
        return
    try:
        from models import DiT_models
    except ImportError as error:
        print(f"DiT's models.py at DIT_REPO={root} does not import ({error}): dit rows skipped", file=sys.stderr)
        return
    for key, name in names.items():
        if name not in wanted_names:
            continue
        torch.manual_seed(1)
        model = DiT_models[key](input_size=32, num_classes=1000).eval()
        with torch.no_grad():
            for p_name, p in model.named_parameters():
                if "adaLN_modulation" in p_name or p_name.startswith("final_layer.linear"):
                    p.normal_(0, 0.02)
        x = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(2))
        t, y = torch.tensor([500.0]), torch.tensor([207])

        def run():
            with torch.no_grad():
                model(x, t, y)
        rows[name] = {"value": median_seconds(run) * 1e3, "unit": "ms"}
        del model


def discriminator_rows(rows):
    """One discriminator step of the demo GAN with NVlabs' own `training.networks.Discriminator`
    (STYLEGAN2_REPO), as loupe-bench's discriminatorStepRow: 32x32, 1 channel, resnet architecture,
    channel_base 1024, channel_max 64, num_fp16_res=0, no conv_clamp, minibatch std group 4;
    softplus(D(fakes)) + softplus(-D(reals)) on 32 random images each, backward, Adam (lr 0.0025,
    betas (0, 0.99), eps 1e-8)."""
    name = "stylegan2 discriminator 32px w64 step b32"
    if not wanted(name):
        return
    root = reference_checkout("STYLEGAN2_REPO", os.path.join("training", "networks.py"), "the discriminator row")
    if root is None:
        return
    try:
        from training.networks import Discriminator
    except ImportError as error:
        print(f"NVlabs' code at STYLEGAN2_REPO={root} does not import ({error}): discriminator row skipped", file=sys.stderr)
        return
    torch.manual_seed(1)
    D = Discriminator(c_dim=0, img_resolution=32, img_channels=1, architecture="resnet", channel_base=1024,
                      channel_max=64, num_fp16_res=0, conv_clamp=None)
    opt = torch.optim.Adam(D.parameters(), lr=0.0025, betas=(0.0, 0.99), eps=1e-8)
    g = torch.Generator().manual_seed(33)
    reals = torch.randn(32, 1, 32, 32, generator=g)
    fakes = torch.randn(32, 1, 32, 32, generator=g)

    def step():
        opt.zero_grad()
        loss = F.softplus(D(fakes, None)).mean() + F.softplus(-D(reals, None)).mean()
        loss.backward()
        opt.step()
    rows[name] = {"value": median_seconds(step) * 1e3, "unit": "ms"}


def dit_training_rows(rows):
    """DiT training steps as loupe-bench's DiTWorkloads.runTraining, with DiT's own code (DIT_REPO):
    `models.DiT` with DiT's initialisation, `diffusion.create_diffusion(timestep_respacing="")`
    and its `training_losses`, AdamW (lr 1e-4, weight decay 0) and train.py's `update_ema`, on
    random images and labels (the model in train mode drops 10% to the null class itself, as in
    train.py), a uniform timestep per image: the
    demo model (32x32x1, patch 4, hidden 96, depth 6, 3 heads, 10 classes) at batch 64 and DiT-S/2
    at a 32x32x4 latent at batch 8."""
    configs = {
        "dit-fmnist-demo train step b64": (dict(input_size=32, patch_size=4, in_channels=1, hidden_size=96, depth=6,
                                                 num_heads=3, num_classes=10), 64),
        "dit-s/2 256px train step b8": (dict(input_size=32, patch_size=2, in_channels=4, hidden_size=384, depth=12,
                                              num_heads=6, num_classes=1000), 8),
    }
    if not any(wanted(n) for n in configs):
        return
    root = reference_checkout("DIT_REPO", "models.py", "dit training rows")
    if root is None:
        return
    try:
        from copy import deepcopy
        from models import DiT
        from diffusion import create_diffusion
    except ImportError as error:
        print(f"DiT's code at DIT_REPO={root} does not import ({error}): dit training rows skipped", file=sys.stderr)
        return
    for name, (config, batch) in configs.items():
        if not wanted(name):
            continue
        torch.manual_seed(1)
        model = DiT(**config)
        ema = deepcopy(model).requires_grad_(False)
        diffusion = create_diffusion(timestep_respacing="")
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0)
        model.train()
        g = torch.Generator().manual_seed(2)
        c = config["in_channels"]
        size = config["input_size"]
        classes = config["num_classes"]

        def step():
            x = torch.randn(batch, c, size, size, generator=g)
            y = torch.randint(0, classes, (batch,), generator=g)
            t = torch.randint(0, diffusion.num_timesteps, (batch,), generator=g)
            loss = diffusion.training_losses(model, x, t, dict(y=y))["loss"].mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for ema_param, param in zip(ema.parameters(), model.parameters()):
                    ema_param.mul_(0.9999).add_(param.data, alpha=1 - 0.9999)
        rows[name] = {"value": median_seconds(step) * 1e3, "unit": "ms"}
        del model, ema, opt


def stylegan2_rows(rows):
    """The StyleGAN2 generator with NVlabs' own code (`training.networks.Generator` from a
    stylegan2-ada-pytorch checkout named by STYLEGAN2_REPO), as loupe-bench's PaintingWorkloads:
    random weights (NVlabs' initialisation), z_dim 512, w_dim 512, 8 mapping layers, 256x256 RGB,
    channel_max 512, the "skip" architecture, conv_clamp 256 (as NVlabs' ADA configurations),
    num_fp16_res=0 and force_fp32=True (float32 throughout), noise_mode='const', eval mode.
    - generation: one image (batch 1) from one z, truncation_psi=1, under no_grad, at channel_base
      16384 and 32768;
    - synthesis forward plus backward to w: channel_base 32768, ws [1, num_ws, 512] requiring grad,
      `G.synthesis(ws)`, loss = image.sum(), backward; the weights are frozen (requires_grad_(False))
      so only ws gets a gradient, as in Loupe.
    The channel_base 32768 rows are left out of --quick. NVlabs' modules import `requests`
    (dnnlib), which must be installed."""
    generate = {base: f"stylegan2 generate 256px cb{base}" for base in (16384, 32768)}
    backward = "stylegan2 synthesis fwd+bwd to w 256px"
    names = [generate[16384]] + ([] if QUICK else [generate[32768], backward])
    if not any(wanted(n) for n in names):
        return
    root = os.environ.get("STYLEGAN2_REPO")
    if not root or not os.path.isfile(os.path.join(root, "training", "networks.py")):
        print("STYLEGAN2_REPO (an NVlabs/stylegan2-ada-pytorch checkout) not set: stylegan2 rows skipped",
              file=sys.stderr)
        return
    use_checkout(root)
    try:
        from training.networks import Generator
    except ImportError as error:
        print(f"NVlabs' code at STYLEGAN2_REPO={root} does not import ({error}): stylegan2 rows skipped",
              file=sys.stderr)
        return

    def generator(channel_base):
        torch.manual_seed(1)
        return Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                         mapping_kwargs=dict(num_layers=8),
                         synthesis_kwargs=dict(channel_base=channel_base, channel_max=512, num_fp16_res=0,
                                               conv_clamp=256)).eval().requires_grad_(False)

    for base in (16384, 32768):
        name = generate[base]
        if name in names and wanted(name):
            G = generator(base)
            z = torch.randn(1, 512, generator=torch.Generator().manual_seed(2))

            def run():
                with torch.no_grad():
                    G(z, None, truncation_psi=1, noise_mode="const", force_fp32=True)
            rows[name] = {"value": median_seconds(run) * 1e3, "unit": "ms"}
            del G
    if backward in names and wanted(backward):
        G = generator(32768)
        ws = torch.randn(1, G.num_ws, 512, generator=torch.Generator().manual_seed(3)).requires_grad_(True)

        def step():
            image = G.synthesis(ws, noise_mode="const", force_fp32=True)
            image.sum().backward()
            ws.grad = None
        rows[backward] = {"value": median_seconds(step) * 1e3, "unit": "ms"}
        del G


def network_rows(rows):
    """Whole networks with random weights (timm ViTs, torchvision ResNet-50), as loupe-bench's
    NetworkWorkloads: forward under no_grad; fwd+bwd takes the gradient of the logits' sum with
    respect to the input only (weights frozen)."""
    try:
        import timm
        import torchvision
    except ImportError:
        print("timm / torchvision not installed: network rows skipped", file=sys.stderr)
        return
    gen = torch.Generator().manual_seed(224)
    inputs = {b: torch.randn(b, 3, 224, 224, generator=gen) for b in (1, 8)}
    for name, timm_name in (("vit-ti/16", "vit_tiny_patch16_224"), ("vit-s/16", "vit_small_patch16_224"),
                            ("vit-b/16", "vit_base_patch16_224")):
        prefix = f"{name} 224"
        names = [f"{prefix} fwd b1", f"{prefix} fwd b8", f"{prefix} fwd+bwd input b1"]
        if not any(wanted(n) for n in names):
            continue
        model = timm.create_model(timm_name, pretrained=False).eval().requires_grad_(False)
        for batch, row in ((1, names[0]), (8, names[1])):
            if batch == 8 and QUICK and name == "vit-b/16":
                continue  # seconds per run: left out of --quick
            if wanted(row):
                with torch.no_grad():
                    s = median_seconds(lambda: model(inputs[batch]))
                rows[row] = {"value": s * 1e3, "unit": "ms"}
        if wanted(names[2]):
            x = inputs[1].clone().requires_grad_(True)

            def step():
                model(x).sum().backward()
                x.grad = None
            rows[names[2]] = {"value": median_seconds(step) * 1e3, "unit": "ms"}
        del model
    if wanted("resnet-50 224 fwd b1"):
        model = torchvision.models.resnet50().eval().requires_grad_(False)
        with torch.no_grad():
            s = median_seconds(lambda: model(inputs[1]))
        rows["resnet-50 224 fwd b1"] = {"value": s * 1e3, "unit": "ms"}
        del model
    if wanted("vit-b/16 224 fwd b1 peak memory"):
        model = timm.create_model("vit_base_patch16_224", pretrained=False).eval().requires_grad_(False)
        x = inputs[1]
        with torch.no_grad():
            growth = peak_memory_growth(lambda: model(x))
        if growth is not None:
            rows["vit-b/16 224 fwd b1 peak memory"] = {"value": growth / 1e6, "unit": "MB"}
    if wanted("fashion-mnist vit train b128"):
        rows["fashion-mnist vit train b128"] = {"value": training_images_per_second(fashion_vit(), lr=1e-3), "unit": "img/s"}
    if wanted("fashion-mnist cnn train b128"):
        rows["fashion-mnist cnn train b128"] = {"value": training_images_per_second(fashion_cnn(), lr=3e-3), "unit": "img/s"}
    for name, build, lr in [("fashion-mnist vit train b128 peak memory", fashion_vit, 1e-3),
                            ("fashion-mnist cnn train b128 peak memory", fashion_cnn, 3e-3)]:
        if wanted(name):
            growth = peak_memory_growth(training_step(build(), lr=lr))
            if growth is not None:
                rows[name] = {"value": growth / 1e6, "unit": "MB"}
    if wanted("fashion-mnist resnet-18 w16 train b128"):
        # ResNet-18 of the demo CNN's width and stem: two BasicBlocks per stage.
        from torchvision.models.resnet import BasicBlock
        nn = torch.nn

        def stage18(cin, cout, stride):
            down = None
            if stride != 1 or cin != cout:
                down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            return nn.Sequential(BasicBlock(cin, cout, stride, down), BasicBlock(cout, cout, 1, None))
        model = nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                              stage18(16, 16, 1), stage18(16, 32, 2), stage18(32, 64, 2), stage18(64, 128, 2),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
        rows["fashion-mnist resnet-18 w16 train b128"] = {"value": training_images_per_second(model, lr=3e-3), "unit": "img/s"}
        del model


def training_step(model, lr):
    """One AdamW step (weight decay 0.05) on 128 seeded random 28x28 images: forward,
    cross-entropy, backward, update."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    images = torch.randn(128, 1, 28, 28, generator=torch.Generator().manual_seed(29))
    labels = torch.arange(128) % 10

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        opt.step()
    return step


def training_images_per_second(model, lr):
    """The median training step (training_step) as images per second."""
    return 128 / median_seconds(training_step(model, lr))


def fashion_vit():
    """The demo ViT's shape (Examples/train/vit-fmnist.loupe) in timm."""
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=64, depth=6,
                             num_heads=4, mlp_ratio=2)


def fashion_cnn():
    """The demo CNN's shape (Examples/train/cnn-fmnist.loupe): torchvision BasicBlocks, one per
    stage, widths 16-32-64-128, 3x3 stride-1 stem without max pool."""
    from torchvision.models.resnet import BasicBlock
    nn = torch.nn

    def stage(cin, cout, stride):
        down = None
        if stride != 1 or cin != cout:
            down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        return BasicBlock(cin, cout, stride, down)
    return nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                         stage(16, 16, 1), stage(16, 32, 2), stage(32, 64, 2), stage(64, 128, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


def demo_vit():
    """The demo-sized Fashion-MNIST ViT of the inversion rows (timm, 28x28, patch 4, dim 96, depth
    6, 3 heads, random initialisation, eval mode), or None without timm."""
    try:
        from timm.models.vision_transformer import VisionTransformer
    except ImportError:
        return None
    return VisionTransformer(img_size=28, patch_size=4, in_chans=1, num_classes=10, embed_dim=96, depth=6,
                             num_heads=3).eval()


def vae_rows(rows):
    """The Stable Diffusion VAE's decoder with diffusers' own `AutoencoderKL`, as loupe-bench's
    VAEWorkloads: random weights (torch's default initialisation, seed 1), the default
    configuration (stabilityai/sd-vae-ft-ema's: block_out_channels [128, 256, 512, 512],
    layers_per_block 2, 32 groups), one 32x32x4 latent (batch 1) decoded to a 256x256 image
    (`post_quant_conv`, then the decoder) under no_grad, eval mode, float32, diffusers' default
    attention processor. Needs diffusers (pip install diffusers)."""
    name = "vae decode 32x32x4 -> 256px"
    if not wanted(name):
        return
    try:
        from diffusers import AutoencoderKL
    except ImportError as error:
        print(f"diffusers does not import ({error}): vae rows skipped", file=sys.stderr)
        return
    torch.manual_seed(1)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[128, 256, 512, 512],
                        layers_per_block=2, norm_num_groups=32, down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4).eval().requires_grad_(False)
    latent = torch.randn(1, 4, 32, 32, generator=torch.Generator().manual_seed(2))

    def run():
        with torch.no_grad():
            vae.decode(latent)
    rows[name] = {"value": median_seconds(run) * 1e3, "unit": "ms"}
    del vae
def grafting_operator_rows(rows):
    """The grafting paper's operators against the attention they replace, as loupe-bench's
    GraftingWorkloads: forward under no_grad, batch 1, width 1152, 256 / 1024 / 4096 tokens (4096
    left out of --quick), torch's default initialisation (seed 1), input N(0, 1).
    - mha: timm `Attention(1152, 16 heads, qkv_bias=True)` (fused SDPA);
    - hyena_x, hyena_y, hyena_se, mlp_hyena_x (ratio 2, l_max = tokens): the classes of a
      keshik6/grafting checkout named by GRAFTING_REPO, with its CUDA `causal_conv1d_fn` replaced
      by the same function on the CPU (`F.conv1d(x, w, b, padding=k-1, groups=C)[..., :L]`);
    - swa: timm's fused qkv / proj with 16 heads and SDPA under a boolean band mask |i - j| <= 4
      (flash-attn's windowed kernel is CUDA-only; PyTorch has no banded attention, so this costs
      full attention);
    - mamba2: transformers' `Mamba2Mixer` torch path (mamba_ssm's Mamba2 sizes: d_state 64,
      headdim 16, expand 2, 1 group, chunk 256), eval mode."""
    names = [f"graft {op} fwd T{t}" for t in (256, 1024, 4096) if t < 4096 or not QUICK
             for op in ("mha", "hyena_x", "hyena_y", "hyena_se", "swa", "mamba2", "mlp_hyena_x")]
    if not any(wanted(n) for n in names):
        return
    import types
    from timm.models.vision_transformer import Attention
    root = os.environ.get("GRAFTING_REPO")
    hyenas = {}
    if root and os.path.isfile(os.path.join(root, "src", "operators", "hyena", "hyena_x.py")):
        def causal_conv1d_fn(x, weight, bias=None, activation=None, seq_idx=None):
            k = weight.shape[-1]
            return F.conv1d(x, weight.unsqueeze(1), bias, padding=k - 1, groups=x.shape[1])[..., : x.shape[-1]]
        shim = types.ModuleType("causal_conv1d")
        shim.causal_conv1d_fn = causal_conv1d_fn
        sys.modules.setdefault("causal_conv1d", shim)
        sys.path.insert(0, os.path.join(root, "src"))
        from operators.hyena.hyena_se import Hyena_SE
        from operators.hyena.hyena_x import Hyena_X
        from operators.hyena.hyena_y import Hyena_Y
        from operators.mlp.mlp_hyena_x import MLP_Hyena_X
        hyenas = {"hyena_x": lambda t: Hyena_X(1152, 1000000), "hyena_y": lambda t: Hyena_Y(1152, 1000000),
                  "hyena_se": lambda t: Hyena_SE(1152, 1000000), "mlp_hyena_x": lambda t: MLP_Hyena_X(1152, t)}
    else:
        print("GRAFTING_REPO (a keshik6/grafting checkout) not set: hyena rows skipped", file=sys.stderr)

    class SlidingWindow(torch.nn.Module):
        def __init__(self, dim, heads, window):
            super().__init__()
            self.attn, self.window = Attention(dim, heads, qkv_bias=True), window

        def forward(self, x):
            b, n, c = x.shape
            a = self.attn
            qkv = a.qkv(x).reshape(b, n, 3, a.num_heads, c // a.num_heads).permute(2, 0, 3, 1, 4)
            i = torch.arange(n)
            band = (i[None, :] - i[:, None]).abs() <= self.window
            y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=band)
            return a.proj(y.transpose(1, 2).reshape(b, n, c))

    def mamba2():
        from transformers import Mamba2Config
        from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer
        config = Mamba2Config(hidden_size=1152, state_size=64, head_dim=16, num_heads=144, expand=2, n_groups=1,
                              conv_kernel=4, use_bias=False, use_conv_bias=True, chunk_size=256,
                              layer_norm_epsilon=1e-5, num_hidden_layers=1)
        return Mamba2Mixer(config, layer_idx=0)

    makers = {"mha": lambda t: Attention(1152, 16, qkv_bias=True), "swa": lambda t: SlidingWindow(1152, 16, 4),
              **hyenas}
    try:
        import transformers  # noqa: F401
        makers["mamba2"] = lambda t: mamba2()
    except ImportError:
        print("transformers not installed: mamba2 rows skipped", file=sys.stderr)
    for name in names:
        if not wanted(name):
            continue
        op, tokens = name.split()[1], int(name.split()[-1][1:])
        if op not in makers:
            continue
        torch.manual_seed(1)
        module = makers[op](tokens).eval()
        x = torch.randn(1, tokens, 1152, generator=torch.Generator().manual_seed(2))

        def run():
            with torch.no_grad():
                module(x)
        rows[name] = {"value": median_seconds(run) * 1e3, "unit": "ms"}
        del module


def main():
    rows = {}
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen)

    with torch.no_grad():
        for n in (256, 512, 1024, 2048):
            a, b = rand(n, n), rand(n, n)
            if wanted(f"matmul {n}"):
                s = median_seconds(lambda: torch.mm(a, b))
                rows[f"matmul {n}"] = {"value": 2 * n ** 3 / s / 1e9, "unit": "GFLOPS"}

        convs = [("conv2d resnet 3x3 64ch 56x56 b1", 1, 64, 64, 56, 3, 1, 1),
                 ("conv2d resnet 3x3 64ch 56x56 b8", 8, 64, 64, 56, 3, 1, 1),
                 ("conv2d vit patch 16/16 224 b1", 1, 3, 768, 224, 16, 16, 0)]
        for name, batch, cin, cout, size, k, stride, pad in convs:
            x, w, bias = rand(batch, cin, size, size), rand(cout, cin, k, k), rand(cout)
            out = (size + 2 * pad - k) // stride + 1
            flops = 2 * batch * cout * out * out * cin * k * k
            if wanted(name):
                s = median_seconds(lambda: F.conv2d(x, w, bias, stride=stride, padding=pad))
                rows[name] = {"value": flops / s / 1e9, "unit": "GFLOPS"}

        name = "conv2d resnet 3x3 64ch 56x56 b8 fwd+bwd"
        if wanted(name):
            with torch.enable_grad():
                # Forward and the gradients of input, weight and bias: three products of the forward's size.
                x, w, bias = rand(8, 64, 56, 56), rand(64, 64, 3, 3), rand(64)
                x.requires_grad_(), w.requires_grad_(), bias.requires_grad_()
                gout = rand(8, 64, 56, 56)

                def fwd_bwd():
                    torch.autograd.grad(F.conv2d(x, w, bias, padding=1), [x, w, bias], gout)
                s = median_seconds(fwd_bwd)
                rows[name] = {"value": 3 * 2 * 8 * 64 * 56 * 56 * 64 * 9 / s / 1e9, "unit": "GFLOPS"}

        x, y = rand(1576, 3072), rand(1576, 3072)
        if wanted("add [1576, 3072]"):
            s = median_seconds(lambda: x + y)
            rows["add [1576, 3072]"] = {"value": 3 * x.numel() * 4 / s / 1e9, "unit": "GB/s"}
        xt = x.t()
        if wanted("transpose copy [3072, 1576]"):
            s = median_seconds(lambda: xt.contiguous())
            rows["transpose copy [3072, 1576]"] = {"value": 2 * x.numel() * 4 / s / 1e9, "unit": "GB/s"}

        x = rand(12, 197, 197)
        if wanted("softmax [12, 197, 197]"):
            s = median_seconds(lambda: torch.softmax(x, dim=-1))
            rows["softmax [12, 197, 197]"] = {"value": 2 * x.numel() * 4 / s / 1e9, "unit": "GB/s"}
        x, w, bias = rand(8 * 197, 768), rand(768), rand(768)
        if wanted("layer_norm [1576, 768]"):
            s = median_seconds(lambda: F.layer_norm(x, (768,), w, bias, 1e-5))
            rows["layer_norm [1576, 768]"] = {"value": 2 * x.numel() * 4 / s / 1e9, "unit": "GB/s"}
        x = rand(8 * 197, 3072)
        if wanted("gelu [1576, 3072]"):
            s = median_seconds(lambda: F.gelu(x))
            rows["gelu [1576, 3072]"] = {"value": 2 * x.numel() * 4 / s / 1e9, "unit": "GB/s"}

    shapes = [(2304, 768), (2304,), (768, 768), (768,), (3072, 768), (3072,),
              (768, 3072), (768,), (768,), (768,), (768,), (768,)]
    params = [rand(*shape).requires_grad_(True) for shape in shapes]
    for t in params:
        t.grad = rand(*t.shape)
    opt = torch.optim.AdamW(params, lr=1e-4)
    total = sum(t.numel() for t in params)
    if wanted("adamw step vit-b block (7.1M)"):
        s = median_seconds(opt.step)
        rows["adamw step vit-b block (7.1M)"] = {"value": 7 * total * 4 / s / 1e9, "unit": "GB/s"}
    opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-4)
    if wanted("sgd momentum step vit-b block (7.1M)"):
        s = median_seconds(opt.step)
        rows["sgd momentum step vit-b block (7.1M)"] = {"value": 5 * total * 4 / s / 1e9, "unit": "GB/s"}

    # ViT-B block, forward + backward, batch 1, 197 tokens, dim 768, 12 heads, MLP 3072; separate q/k/v
    # projections and explicit softmax attention, exactly as loupe-bench builds it from its ops.
    dim, heads, tokens = 768, 12, 197

    def param(*shape, scale=0.02):
        return (rand(*shape) * scale).requires_grad_(True)

    p = {"ln1w": torch.ones(dim, requires_grad=True), "ln1b": torch.zeros(dim, requires_grad=True),
         "qw": param(dim, dim), "qb": param(dim), "kw": param(dim, dim), "kb": param(dim),
         "vw": param(dim, dim), "vb": param(dim), "projw": param(dim, dim), "projb": param(dim),
         "ln2w": torch.ones(dim, requires_grad=True), "ln2b": torch.zeros(dim, requires_grad=True),
         "fc1w": param(4 * dim, dim), "fc1b": param(4 * dim), "fc2w": param(dim, 4 * dim), "fc2b": param(dim)}
    x = rand(1, tokens, dim).requires_grad_(True)

    def block():
        h = F.layer_norm(x, (dim,), p["ln1w"], p["ln1b"])
        q, k, v = (F.linear(h, p[n + "w"], p[n + "b"]).reshape(1, tokens, heads, dim // heads).permute(0, 2, 1, 3)
                   for n in "qkv")
        scores = (q @ k.transpose(-2, -1)) * (dim // heads) ** -0.5
        attn = torch.softmax(scores, dim=-1) @ v
        attn = attn.transpose(1, 2).reshape(1, tokens, dim)
        h1 = x + F.linear(attn, p["projw"], p["projb"])
        m = F.linear(F.gelu(F.linear(F.layer_norm(h1, (dim,), p["ln2w"], p["ln2b"]), p["fc1w"], p["fc1b"])),
                     p["fc2w"], p["fc2b"])
        out = h1 + m
        out.sum().backward()
        for t in list(p.values()) + [x]:
            t.grad = None

    if wanted("vit-b block fwd+bwd b1"):
        s = median_seconds(block)
        rows["vit-b block fwd+bwd b1"] = {"value": s * 1e3, "unit": "ms"}

    # Optimisation-based inversion (LoupeInversion `invert`): 200 Adam steps (lr 0.05) on sigmoid
    # pixel logits so that the block-5 output of a demo-sized Fashion-MNIST ViT (timm, 28x28,
    # patch 4, dim 96, depth 6, 3 heads) matches a target; the forward stops after block 5.
    if wanted("invert vit-fmnist blocks.5 200 steps b1"):
        vit = demo_vit()
        if vit is not None:
            for q in vit.parameters():
                q.requires_grad_(False)

            def features(image):
                h = vit._pos_embed(vit.patch_embed(image))
                for blk in vit.blocks:
                    h = blk(h)
                return h

            with torch.no_grad():
                target = features(rand(1, 1, 28, 28))

            def invert():
                logits = (torch.randn(1, 1, 28, 28) * 0.01).requires_grad_(True)
                opt = torch.optim.Adam([logits], lr=0.05)
                for _ in range(200):
                    opt.zero_grad()
                    loss = F.mse_loss(features(torch.sigmoid(logits)), target)
                    loss.backward()
                    opt.step()

            s = median_seconds(invert, budget=0.5, min_runs=3, max_runs=5, warmup=1)
            rows["invert vit-fmnist blocks.5 200 steps b1"] = {"value": s * 1e3, "unit": "ms"}

    # Modular inverse-chain training (LoupeInversion `trainInverse` with its defaults): the same
    # demo-sized ViT; 512 uniform images; capture the tokens and every block output without
    # gradients (batches of 128); then, one module at a time, one epoch in shuffled batches of 64
    # with Adam (lr 1e-3, cosine decay over the module's steps): the linear patch inverse (drop
    # the class token, ConvTranspose2d(96 -> 1, k = s = 4), sigmoid) on pixel MSE, and one fresh
    # timm Block per ViT block on MSE against the block's input.
    if wanted("train_inverse vit-fmnist 512 images 1 epoch"):
        vit = demo_vit()
        if vit is not None:
            from timm.models.vision_transformer import Block
            images = torch.rand(512, 1, 28, 28, generator=torch.Generator().manual_seed(3))

            def capture():
                states = []
                with torch.no_grad():
                    for start in range(0, 512, 128):
                        h = vit._pos_embed(vit.patch_embed(images[start:start + 128]))
                        row = [h]
                        for blk in vit.blocks:
                            h = blk(h)
                            row.append(h)
                        states.append(row)
                return [torch.cat([row[k] for row in states]) for k in range(7)]

            class LinearPatchInverse(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.proj = torch.nn.ConvTranspose2d(96, 1, kernel_size=4, stride=4)

                def forward(self, tokens):
                    patches = tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], 96, 7, 7)
                    return torch.sigmoid(self.proj(patches))

            def fit(module, source, target):
                steps = (512 + 63) // 64
                opt = torch.optim.Adam(module.parameters(), lr=1e-3)
                schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
                order = torch.randperm(512)
                for b in range(steps):
                    idx = order[b * 64:(b + 1) * 64]
                    opt.zero_grad()
                    F.mse_loss(module(source[idx]), target[idx]).backward()
                    opt.step()
                    schedule.step()

            def train_inverse():
                states = capture()
                fit(LinearPatchInverse(), states[0], images)
                for k in range(6):
                    fit(Block(dim=96, num_heads=3, mlp_ratio=4, qkv_bias=True), states[k + 1], states[k])

            s = median_seconds(train_inverse, budget=0.5, min_runs=3, max_runs=5, warmup=1)
            rows["train_inverse vit-fmnist 512 images 1 epoch"] = {"value": s * 1e3, "unit": "ms"}

    network_rows(rows)
    detr_rows(rows)
    visualization_rows(rows)
    stylegan2_rows(rows)
    dit_rows(rows)
    dit_training_rows(rows)
    discriminator_rows(rows)
    vae_rows(rows)
    grafting_operator_rows(rows)

    document = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"), "rows": rows}
    text = json.dumps(document, indent=1)
    args = sys.argv[1:]
    paths = [a for k, a in enumerate(args) if not a.startswith("--") and (k == 0 or args[k - 1] != "--filter")]
    if paths:
        with open(paths[0], "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
