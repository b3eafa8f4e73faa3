"""StillMotionDataset: deterministic clips of a camera moving over photos, inside the photo,
anti-aliased, with an occluding foreground when asked; clear errors for bad folders."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from bootvid.data import CameraPath, StillMotionDataset, find_images  # noqa: E402


def _photo(path, width: int, height: int, seed: int) -> str:
    """A photo-like image: smooth colour fields plus sharp-edged blobs and fine texture."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 6, 8, generator=g)
    img = torch.nn.functional.interpolate(low, size=(height, width), mode="bicubic",
                                          align_corners=False)[0]
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    for _ in range(6):
        cx, cy, r = (torch.rand(3, generator=g) * torch.tensor([width, height, 40])).tolist()
        disc = ((x - cx) ** 2 + (y - cy) ** 2) < (r + 8) ** 2
        img[:, disc] = torch.rand(3, 1, generator=g)
    img += 0.08 * torch.sin(x * 0.9 + y * 0.4)
    arr = (img.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    Image.fromarray(arr).save(path, quality=92) if str(path).endswith(".jpg") else \
        Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp("stills")
    _photo(d / "a.jpg", 320, 200, 0)
    _photo(d / "b.png", 180, 260, 1)
    (d / "sub").mkdir()
    _photo(d / "sub" / "c.webp", 240, 240, 2)
    (d / "notes.txt").write_text("not an image")
    return d


def test_finds_images_recursively(photos):
    found = find_images(photos)
    assert [p.split("/")[-1] for p in found] == ["a.jpg", "b.png", "c.webp"]


@pytest.mark.parametrize("frames, size", [(17, 32), (5, 24), (1, 16), (9, 33)])
def test_items_have_the_asked_shape_and_range(photos, frames, size):
    ds = StillMotionDataset(photos, frames=frames, size=size)
    for i in range(4):
        v = ds[i]
        assert v.shape == (3, frames, size, size) and v.dtype == torch.float32
        assert v.min() >= -1 and v.max() <= 1 and v.std() > 0.01


def test_an_item_is_a_function_of_seed_and_index(photos):
    a = StillMotionDataset(photos, frames=9, size=32, seed=3)
    b = StillMotionDataset(photos, frames=9, size=32, seed=3)
    c = StillMotionDataset(photos, frames=9, size=32, seed=4)
    for i in (0, 7, 123456):
        assert torch.equal(a[i], b[i])
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(a[0], c[0])
    # and in DataLoader workers, in any order
    from torch.utils.data import DataLoader

    loaded = torch.cat(list(DataLoader(torch.utils.data.Subset(a, [5, 2, 9, 0]), batch_size=2,
                                       num_workers=2)))
    assert torch.equal(loaded, torch.stack([a[i] for i in (5, 2, 9, 0)]))


def test_the_clips_move(photos):
    ds = StillMotionDataset(photos, frames=9, size=32, static_prob=0.0, foreground_prob=0.0)
    moving = [float((ds[i][:, -1] - ds[i][:, 0]).abs().mean()) for i in range(8)]
    assert sum(m > 0.01 for m in moving) >= 6, moving


@pytest.mark.parametrize("seed", range(3))
def test_the_camera_stays_inside_the_photo_at_every_zoom_and_angle(photos, seed):
    # The strongest motions allowed, on photos of several shapes (also barely larger than
    # the clip), so that fitting the path inside has to shrink it.
    ds = StillMotionDataset(photos, frames=33, size=32, max_pan=0.5, max_zoom=0.5,
                            max_rotation=0.5, zoom_prob=1, rotate_prob=1, static_prob=0)
    from bootvid.data.seeding import item_generator

    sides = []
    for i in range(60):
        w, h = [(400, 300), (33, 500), (1920, 1080), (40, 40), (64, 2000)][i % 5]
        cam = ds.camera_path(w, h, item_generator(seed, i))
        xy = cam.corners()
        assert float(xy[..., 0].min()) >= -1e-3 and float(xy[..., 0].max()) <= w + 1e-3, (w, h)
        assert float(xy[..., 1].min()) >= -1e-3 and float(xy[..., 1].max()) <= h + 1e-3, (w, h)
        assert float(cam.side.min()) >= min(1.5 * 32, min(w, h)) - 1e-3
        sides.append(float(cam.side.max() / cam.side.min()))
    assert max(sides) > 1.3  # zooms happened


def test_the_dataset_clips_record_their_camera_inside_the_photo(photos):
    ds = StillMotionDataset(photos, frames=17, size=32, rotate_prob=1, zoom_prob=1)
    for i in range(10):
        clip = ds.clip(i)
        w, h = clip.photo_size
        xy = clip.camera.corners()
        assert float(xy[..., 0].min()) >= -1e-3 and float(xy[..., 0].max()) <= w + 1e-3
        assert float(xy[..., 1].min()) >= -1e-3 and float(xy[..., 1].max()) <= h + 1e-3


def _grating(path, size: int = 1024, period: float = 2.5) -> str:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    g = (127.5 + 127.5 * torch.cos(2 * math.pi * (x + 0.37 * y) / period)).round().byte()
    Image.fromarray(torch.stack([g] * 3, -1).numpy()).save(path)
    return str(path)


# Residual contrast (std in [-1, 1] units; the grating itself has 0.707) of a grating 2.5
# photo pixels per period, i.e. beyond the clip's Nyquist limit once zoomed out 1.25x or more.
# Measured: <= 0.01 from 3x zoom-out on, 0.09-0.21 between 1.5x and 2x.
ALIAS_TOLERANCE = {3.0: 0.02, 4.0: 0.02, 6.0: 0.02, 8.0: 0.02, 12.0: 0.02}


@pytest.mark.parametrize("zoom_out", sorted(ALIAS_TOLERANCE))
@pytest.mark.parametrize("angle", [0.0, 0.3])
def test_zooming_out_of_a_fine_grating_does_not_alias(tmp_path, zoom_out, angle):
    ds = StillMotionDataset(_grating(tmp_path / "grating.png"), frames=1, size=32)
    cam = CameraPath(torch.tensor([[515.3, 508.3]]), torch.tensor([32 * zoom_out]),
                     torch.tensor([angle]))
    out = ds.view(0, cam)
    assert float(out.std()) < ALIAS_TOLERANCE[zoom_out]
    # what plain bilinear sampling of the full-resolution photo gives: aliasing
    import numpy as np

    photo = torch.from_numpy(np.array(Image.open(ds.photos[0]).convert("RGB"))).permute(2, 0, 1)
    a = (torch.arange(32) + 0.5) / 32 - 0.5
    vy, vx = torch.meshgrid(a, a, indexing="ij")
    c, s = math.cos(angle), math.sin(angle)
    side = 32 * zoom_out
    gx = (515.3 + side * (c * vx - s * vy)) / 1024 * 2 - 1
    gy = (508.3 + side * (s * vx + c * vy)) / 1024 * 2 - 1
    naive = torch.nn.functional.grid_sample(photo[None].float() / 127.5 - 1,
                                            torch.stack([gx, gy], -1)[None],
                                            align_corners=False)
    assert float(naive.std()) > 10 * ALIAS_TOLERANCE[zoom_out]


def test_detail_below_the_clips_nyquist_limit_survives(tmp_path):
    # A grating of 8 clip pixels per period keeps most of its contrast at any zoom-out.
    for zoom_out in (2.0, 3.0, 5.0):
        ds = StillMotionDataset(_grating(tmp_path / f"g{zoom_out}.png", period=8 * zoom_out),
                                frames=1, size=32)
        cam = CameraPath(torch.tensor([[512.0, 512.0]]), torch.tensor([32 * zoom_out]),
                         torch.tensor([0.0]))
        assert float(ds.view(0, cam).std()) > 0.85 * 0.707


def test_foreground_occludes_the_background_and_moves_on_its_own(photos):
    with_fg = StillMotionDataset(photos, frames=9, size=32, foreground_prob=1.0, static_prob=0)
    without = StillMotionDataset(photos, frames=9, size=32, foreground_prob=0.0, static_prob=0)
    moved = 0
    for i in range(6):
        clip, bg = with_fg.clip(i), without.clip(i)
        assert bg.alpha is None and bg.foreground is None
        alpha = clip.alpha
        assert alpha is not None and alpha.shape == (9, 32, 32) and clip.foreground
        covered, free = alpha > 0.99, alpha == 0
        assert covered.float().mean() > 0.02  # a visible cut-out in the frames
        frames_major = clip.video.permute(1, 0, 2, 3)  # (T, 3, H, W)
        bg_major = bg.video.permute(1, 0, 2, 3)
        # the background is untouched outside the cut-out and hidden under it
        diff = (frames_major - bg_major).abs().mean(1)
        assert float(diff[free].max()) < 1e-6
        assert float(diff[covered].mean()) > 0.02
        # the cut-out's centre of coverage moves (its own path, not the camera's)
        ys, xs = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
        mass = alpha.sum((1, 2)).clamp(min=1e-6)
        cx = (alpha * xs).sum((1, 2)) / mass
        cy = (alpha * ys).sum((1, 2)) / mass
        moved += float(torch.hypot(cx[-1] - cx[0], cy[-1] - cy[0])) > 0.5
    assert moved >= 3


def test_with_frames_one_gives_images_of_the_same_kind(photos):
    ds = StillMotionDataset(photos, frames=17, size=24)
    images = ds.with_frames(1)
    assert images.frames == 1 and ds.frames == 17
    assert images[3].shape == (3, 1, 24, 24)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no image files in folder"):
        StillMotionDataset(tmp_path, frames=5, size=16)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        StillMotionDataset(tmp_path / "missing", frames=5, size=16)


def test_unreadable_and_too_small_images_are_skipped_with_a_warning(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    _photo(tmp_path / "small.png", 20, 30, 0)
    with pytest.raises(ValueError, match="none of the 2 images.*not a readable image.*"
                                         "smaller than the clips"):
        StillMotionDataset(tmp_path, frames=5, size=32)
    _photo(tmp_path / "good.png", 64, 48, 1)
    with pytest.warns(UserWarning, match="skipping .*broken.jpg: not a readable image"):
        ds = StillMotionDataset(tmp_path, frames=5, size=32)
    assert [p.split("/")[-1] for p in ds.photos] == ["good.png"]
    assert len(ds.skipped) == 2


def test_a_photo_that_breaks_later_falls_through_to_another(tmp_path):
    _photo(tmp_path / "a.png", 64, 64, 0)
    _photo(tmp_path / "b.png", 64, 64, 1)
    ds = StillMotionDataset(tmp_path, frames=3, size=16, foreground_prob=0.0)
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken now")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds.clip(i) for i in range(6)]
    assert all(c.photo.endswith("b.png") for c in items)
    assert any("failed while training" in str(w.message) for w in caught)
    (tmp_path / "b.png").write_bytes(b"broken too")
    with pytest.raises(RuntimeError, match="every photo failed"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.clip(99)


def test_a_broken_photo_is_left_out_and_items_do_not_depend_on_who_found_out(tmp_path):
    for name in "abcd":
        _photo(tmp_path / f"{name}.png", 64, 64, ord(name))
    ds = StillMotionDataset(tmp_path, frames=3, size=16, foreground_prob=1.0)
    other = StillMotionDataset(tmp_path, frames=3, size=16, foreground_prob=1.0)  # a worker
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken now")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen_first = [ds.clip(i) for i in range(16)]  # finds b.png broken on the way
        assert ds._bad == {1}  # only b.png, whether it was the background or the cut-out
        again = [ds.clip(i) for i in range(16)]  # knows it from the start
        # another copy meets the failure at another item
        reversed_order = [other.clip(i) for i in reversed(range(16))][::-1]
    for a, b, c in zip(seen_first, again, reversed_order):
        assert torch.equal(a.video, b.video) and torch.equal(a.video, c.video)
    assert not any(c.photo.endswith("b.png") or c.foreground.endswith("b.png")
                   for c in seen_first)


def test_exif_orientation_is_applied(tmp_path):
    # a landscape JPEG stored sideways with orientation 6 (rotate 90 degrees clockwise to show)
    img = Image.new("RGB", (80, 48), (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, 80, 8))  # blue band along the stored top edge
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "turned.jpg", exif=exif, quality=95)
    ds = StillMotionDataset(tmp_path, frames=1, size=16)
    assert ds.sizes == [(48, 80)]  # shown upright: portrait
    from bootvid.data import CameraPath

    # the shown image's right edge holds the band: look at the right third
    right = ds.view(0, CameraPath(torch.tensor([[40.0, 40.0]]), torch.tensor([16.0]),
                                  torch.tensor([0.0])))
    left = ds.view(0, CameraPath(torch.tensor([[8.0, 40.0]]), torch.tensor([16.0]),
                                 torch.tensor([0.0])))
    assert float(right[2, 0, :, -2:].mean()) > 0.2 and float(right[0, 0, :, -2:].mean()) < -0.2
    assert float(left[0].mean()) > 0.2  # red elsewhere


def test_transparent_and_16_bit_images(tmp_path):
    rgba = Image.new("RGBA", (40, 40), (255, 0, 0, 0))  # fully transparent red
    rgba.save(tmp_path / "clear.png")
    Image.new("I;16", (40, 40), 60000).save(tmp_path / "deep.png")
    with pytest.warns(UserWarning, match="deep.png: not a readable image.*mode I;16"):
        ds = StillMotionDataset(tmp_path, frames=1, size=16, foreground_prob=0.0)
    assert [p.split("/")[-1] for p in ds.photos] == ["clear.png"]
    assert float(ds[0].abs().max()) < 0.01  # mid grey, not black or red


def test_bad_arguments_are_named(photos):
    with pytest.raises(ValueError, match="StillMotionDataset: max_pan must be a number in"):
        StillMotionDataset(photos, frames=5, size=16, max_pan=2)
    with pytest.raises(ValueError, match="StillMotionDataset: frames must be a positive"):
        StillMotionDataset(photos, frames=0, size=16)
    with pytest.raises(ValueError, match="foreground_prob must be a number"):
        StillMotionDataset(photos, frames=5, size=16, foreground_prob="often")
