"""LPIPS-VGG: loading both weight layouts, the formula against a hand computation, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from bootvid.train.perceptual import LPIPS

# torchvision vgg16 `features` conv indices, grouped by the LPIPS slice they end in.
CONV_GROUPS = ((0, 2), (5, 7), (10, 12, 14), (17, 19, 21), (24, 26, 28))


def _images(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


@pytest.fixture(scope="module")
def model():
    """Random weights that keep every layer informative (He init, small biases; the lin
    weights non-negative as in trained LPIPS)."""
    torch.manual_seed(0)
    m = LPIPS()
    with torch.no_grad():
        for module in m.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    module.bias.uniform_(-0.05, 0.05)
        for k in range(5):
            getattr(m, f"lin{k}").model[1].weight.uniform_(0.0, 0.1)
    return m


def _torchvision_layout(model):
    """{features.i.*: ...} as in torchvision's vgg16 state dict (plus a classifier key)."""
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("net.slice"):
            _, _, index, rest = key.split(".", 3)
            state[f"features.{index}.{rest}"] = value.clone()
    state["classifier.0.bias"] = torch.zeros(4)
    return state


@pytest.fixture(scope="module")
def weight_files(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("lpips")
    full = {k: v.clone() for k, v in model.state_dict().items()}
    save_file(full, str(root / "full.safetensors"))
    # The lpips package also saves its `lins` ModuleList alias of lin0..lin4.
    torch.save({**full, **{f"lins.{k}.model.1.weight": full[f"lin{k}.model.1.weight"]
                           for k in range(5)}}, root / "full.pth")
    torch.save({k: v for k, v in full.items() if k.startswith("lin")}, root / "vgg.pth")
    save_file(_torchvision_layout(model), str(root / "vgg16.safetensors"))
    return root


def _hand_lpips(state, x, y):
    """LPIPS-VGG written out with F.conv2d from a torchvision-layout state dict."""
    shift = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1)
    scale = torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)

    def taps(image):
        h, out = (image - shift) / scale, []
        for group_index, group in enumerate(CONV_GROUPS):
            if group_index:
                h = F.max_pool2d(h, 2)
            for i in group:
                h = F.relu(F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"],
                                    padding=1))
            out.append(h)
        return out

    total = torch.zeros(x.shape[0])
    for k, (fx, fy) in enumerate(zip(taps(x), taps(y))):
        nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
        weights = state[f"lin{k}.model.1.weight"].view(1, -1, 1, 1)
        total += ((nx - ny).pow(2) * weights).sum(1).mean(dim=(1, 2))
    return total.mean()


def test_matches_hand_computation(model):
    x, y = _images(2, 3, 32, 32, seed=1), _images(2, 3, 32, 32, seed=2)
    state = {**_torchvision_layout(model),
             **{k: v for k, v in model.state_dict().items() if k.startswith("lin")}}
    expected = _hand_lpips(state, x, y)
    actual = model(x, y)
    assert actual.shape == ()
    assert float(expected) > 1e-3  # the random net is informative, so the check can fail
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


def test_distance_properties_and_gradients(model):
    x = _images(2, 3, 32, 32, seed=3).requires_grad_()
    y = _images(2, 3, 32, 32, seed=4)
    assert float(model(x.detach(), x.detach())) == 0.0
    d = model(x, y)
    assert d.item() > 0
    torch.testing.assert_close(d.detach(), model(y, x.detach()))
    d.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in model.parameters())


def test_frozen_and_stays_in_eval(model):
    model.train()
    assert not model.training and not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())


def test_videos_are_compared_frame_by_frame(model):
    # Shapes chosen so every forward runs on 2 images of 32x32 (CPU conv kernels are
    # built per shape, and building them costs more than running them here).
    x, y = _images(1, 3, 2, 32, 32, seed=5), _images(1, 3, 2, 32, 32, seed=6)
    torch.testing.assert_close(model(x, y), model(x[0].transpose(0, 1), y[0].transpose(0, 1)))
    x, y = _images(2, 3, 5, 32, 32, seed=5), _images(2, 3, 5, 32, 32, seed=6)
    keep = torch.randperm(5, generator=torch.Generator().manual_seed(7))[:1]
    subset = model(x, y, max_frames=1, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(subset, model(x[:, :, keep[0]], y[:, :, keep[0]]))


@pytest.mark.parametrize("name", ["full.safetensors", "full.pth"])
def test_loads_the_lpips_package_layout(model, weight_files, name):
    loaded = LPIPS.from_file(weight_files / name)
    x, y = _images(2, 3, 32, 32, seed=8), _images(2, 3, 32, 32, seed=9)
    assert torch.equal(loaded(x, y), model(x, y))
    assert not any(p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_loads_lin_file_plus_torchvision_backbone(model, weight_files):
    loaded = LPIPS.from_file(weight_files / "vgg.pth", backbone=weight_files / "vgg16.safetensors")
    x, y = _images(2, 3, 32, 32, seed=10), _images(2, 3, 32, 32, seed=11)
    assert torch.equal(loaded(x, y), model(x, y))


def test_missing_file_says_what_to_provide(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        LPIPS.from_file(tmp_path / "absent.pth")
    message = str(error.value)
    assert "absent.pth" in message and "weights/v0.1/vgg.pth" in message
    assert "vgg16" in message and "Nothing is downloaded" in message


def test_lin_only_file_without_backbone_names_missing_keys(weight_files):
    with pytest.raises(ValueError, match=r"missing keys \(a lin-only file needs backbone=.*"
                                         r"net\.slice1\.0\.bias"):
        LPIPS.from_file(weight_files / "vgg.pth")


def test_wrong_keys_and_shapes_are_named(model, tmp_path):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["lin9.model.1.weight"] = torch.zeros(1, 3, 1, 1)
    state["lin2.model.1.weight"] = torch.zeros(1, 7, 1, 1)
    del state["net.slice5.28.bias"]
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    with pytest.raises(ValueError) as error:
        LPIPS.from_file(path)
    message = str(error.value)
    assert "missing keys: net.slice5.28.bias" in message
    assert "unexpected keys: lin9.model.1.weight" in message
    assert "lin2.model.1.weight: (1, 7, 1, 1) (expected (1, 256, 1, 1))" in message


def test_bad_backbone_keys_are_named(weight_files, tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file({"conv1.weight": torch.zeros(1)}, str(path))
    with pytest.raises(ValueError, match="not a torchvision vgg16 state dict.*conv1.weight"):
        LPIPS.from_file(weight_files / "vgg.pth", backbone=path)


def test_mismatched_inputs_are_rejected(model):
    with pytest.raises(ValueError, match="equal shape"):
        model(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 8))
