"""What the lucent scripts share (Scripts/fixtures/lucent_render.py, Scripts/bench_torch.py):
importing lucent (greentfrapp/lucent) from a checkout on current packages, and the demo CNN
rebuilt in PyTorch.

Compatibility shims, each installed only when needed:
- kornia >= 0.5 no longer exports `kornia.get_rotation_matrix2d` and `kornia.warp_affine` at the
  top level (lucent's `random_rotate` calls them); they are aliased from
  `kornia.geometry.transform` (same functions).
- when the `decorator` package is missing (lucent's objectives import it), a minimal stand-in
  with the same call behaviour; when IPython is missing (lucent's render imports
  `IPython.display` for notebook display only), an empty `IPython.display` module.
"""
import functools
import os
import sys
import types

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def import_lucent(repo):
    """lucent's optvis modules from the checkout `repo` (raises ImportError when they do not
    import): objectives, param, render, transform and the colour decorrelation."""
    sys.path.insert(0, os.path.abspath(repo))
    try:
        import decorator  # noqa: F401
    except ImportError:
        shim = types.ModuleType("decorator")

        def decorator(caller):
            def decorate(func):
                @functools.wraps(func)
                def fun(*args, **kwds):
                    return caller(func, *args, **kwds)
                return fun
            return decorate
        shim.decorator = decorator
        sys.modules["decorator"] = shim
    try:
        import IPython.display  # noqa: F401
    except ImportError:
        ipython = types.ModuleType("IPython")
        ipython.display = types.ModuleType("IPython.display")
        sys.modules["IPython"] = ipython
        sys.modules["IPython.display"] = ipython.display
    import kornia
    import kornia.geometry.transform as kgt
    for name in ("get_rotation_matrix2d", "warp_affine"):
        if not hasattr(kornia, name):
            setattr(kornia, name, getattr(kgt, name))
    from lucent.optvis import objectives, param, render, transform
    from lucent.optvis.param.color import _linear_decorrelate_color
    return types.SimpleNamespace(objectives=objectives, param=param, render=render, transform=transform,
                                 decorrelate=_linear_decorrelate_color)


def cnn_fmnist():
    """Examples/models/cnn-fmnist.safetensors in torchvision: a ResNet-10 (BasicBlock [1, 1, 1, 1])
    with Loupe's small stem (3x3 stride-1 conv, no max pool), widths 16/32/64/128, one input
    channel, 10 classes; loaded strictly, in eval mode."""
    import torch.nn as nn
    from safetensors.torch import load_file
    from torchvision.models.resnet import BasicBlock, ResNet
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
    model.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1, bias=False)
    model.bn1 = nn.BatchNorm2d(16)
    model.maxpool = nn.Identity()
    model.inplanes = 16
    model.layer1 = model._make_layer(BasicBlock, 16, 1)
    model.layer2 = model._make_layer(BasicBlock, 32, 1, stride=2)
    model.layer3 = model._make_layer(BasicBlock, 64, 1, stride=2)
    model.layer4 = model._make_layer(BasicBlock, 128, 1, stride=2)
    model.fc = nn.Linear(128, 10)
    model.load_state_dict(load_file(os.path.join(ROOT, "Examples", "models", "cnn-fmnist.safetensors")), strict=True)
    return model.eval()
