"""bootvid.data.transforms: random and centre crops to the tokenizer's float clips."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bootvid.data import center_crop_resize, random_resized_crop
from bootvid.tokenizer import frames_to_video


def _frames(t=3, h=40, w=56, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8, generator=g)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_output_convention():
    out = random_resized_crop(_frames(), 24, generator=_gen(0))
    assert out.shape == (3, 3, 24, 24) and out.dtype == torch.float32 and out.is_contiguous()
    assert out.min() >= -1 and out.max() <= 1


def test_whole_frame_at_scale_one_is_frames_to_video_or_its_mirror():
    frames = _frames(h=32, w=32)
    plain = frames_to_video(frames)[0]
    seen = set()
    for seed in range(12):
        out = random_resized_crop(frames, 32, scale_range=(1.0, 1.0), hflip=True,
                                  generator=_gen(seed))
        if torch.allclose(out, plain, atol=1e-6):
            seen.add("plain")
        elif torch.allclose(out, plain.flip(-1), atol=1e-6):
            seen.add("flipped")
        else:
            raise AssertionError(f"seed {seed}: neither the frames nor their mirror image")
    assert seen == {"plain", "flipped"}
    for seed in range(6):  # hflip=False never flips
        out = random_resized_crop(frames, 32, scale_range=(1.0, 1.0), generator=_gen(seed))
        assert torch.allclose(out, plain, atol=1e-6)


def test_randomness_comes_from_the_generator():
    frames = _frames(h=60, w=80)
    a = random_resized_crop(frames, 20, scale_range=(1.0, 2.0), hflip=True, generator=_gen(3))
    b = random_resized_crop(frames, 20, scale_range=(1.0, 2.0), hflip=True, generator=_gen(3))
    assert torch.equal(a, b)
    outs = [random_resized_crop(frames, 20, scale_range=(1.0, 2.0), generator=_gen(s))
            for s in range(6)]
    assert len({o.sum().item() for o in outs}) == 6  # crops (positions and scales) differ


def test_scale_zooms_in():
    # Stripes 2 pixels wide: at scale 1 a 56-pixel square is shrunk to 14 (averaged to grey),
    # at scale 4 a 14-pixel square is kept as is (full contrast).
    stripes = torch.zeros(1, 56, 56, 3, dtype=torch.uint8)
    stripes[:, :, ::4] = 255
    stripes[:, :, 1::4] = 255
    wide = random_resized_crop(stripes, 14, scale_range=(1.0, 1.0), generator=_gen(0))
    zoomed = random_resized_crop(stripes, 14, scale_range=(4.0, 4.0), generator=_gen(0))
    assert wide.std() < 0.2 and zoomed.std() > 0.9


def test_center_crop_resize():
    frames = _frames(h=40, w=60)
    out = center_crop_resize(frames, 20)
    centre = frames[:, :, 10:50].permute(0, 3, 1, 2).float()
    expected = F.interpolate(centre, size=(20, 20), mode="bilinear", antialias=True)
    expected = (expected / 127.5 - 1).permute(1, 0, 2, 3)
    assert out.shape == (3, 3, 20, 20)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.equal(out, center_crop_resize(frames, 20))


@pytest.mark.parametrize("frames,size,kwargs,error,match", [
    (_frames().float(), 8, {}, TypeError, "uint8"),
    (_frames()[..., :1], 8, {}, ValueError, r"\(T, H, W, 3\)"),
    (_frames()[0], 8, {}, ValueError, r"\(T, H, W, 3\)"),
    (_frames(), 0, {}, ValueError, "size"),
    (_frames(), 8, dict(scale_range=(0.5, 1.0)), ValueError, "scale_range"),
    (_frames(), 8, dict(scale_range=(2.0, 1.0)), ValueError, "scale_range"),
])
def test_bad_arguments(frames, size, kwargs, error, match):
    with pytest.raises(error, match=match):
        random_resized_crop(frames, size, **kwargs)
