"""bootvid.data.SyntheticVideoDataset: procedural moving-shape clips."""

from __future__ import annotations


import pytest
import torch
from torch.utils.data import DataLoader

from bootvid.data import SyntheticVideoDataset, item_generator


def test_shape_dtype_range():
    ds = SyntheticVideoDataset(frames=9, size=24, length=7)
    assert len(ds) == 7
    for i in (0, 1, 6, 10_000):  # any index >= 0 is an item
        x = ds[i]
        assert x.shape == (3, 9, 24, 24) and x.dtype == torch.float32 and x.is_contiguous()
        assert x.min() >= -1 and x.max() <= 1
        assert x.std() > 0.05  # not a flat image
    assert len(list(ds)) == 7  # iteration stops after one epoch


def test_same_seed_and_index_same_clip_across_instances():
    a = SyntheticVideoDataset(frames=5, size=16, seed=3)
    b = SyntheticVideoDataset(frames=5, size=16, seed=3)
    torch.manual_seed(123)  # the global RNG plays no part
    first = a[11]
    torch.manual_seed(456)
    assert torch.equal(first, b[11]) and torch.equal(first, a[11])
    assert not torch.equal(first, a[12])
    assert not torch.equal(first, SyntheticVideoDataset(frames=5, size=16, seed=4)[11])
    # Items differ from each other, not just by a little.
    clips = torch.stack([a[i] for i in range(8)])
    diffs = (clips[:, None] - clips[None]).abs().mean(dim=(2, 3, 4, 5))
    assert diffs[~torch.eye(8, dtype=torch.bool)].min() > 0.05


def test_item_generator_depends_only_on_its_arguments():
    draw = lambda *args: torch.rand(4, generator=item_generator(*args))  # noqa: E731
    assert torch.equal(draw(0, 5), draw(0, 5))
    assert not torch.equal(draw(0, 5), draw(0, 6))
    assert not torch.equal(draw(0, 5), draw(1, 5))
    assert not torch.equal(draw(0, 5), draw(0, 5, 1))
    assert torch.equal(draw(-1, 2**70), draw(-1, 2**70))  # any integers work


def test_dataloader_workers_give_the_same_clips():
    ds = SyntheticVideoDataset(frames=4, size=16, length=6, seed=7)
    loader = DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="fork")
    batches = torch.cat(list(loader))
    assert batches.shape == (6, 3, 4, 16, 16)
    assert torch.equal(batches, torch.stack([ds[i] for i in range(6)]))


def test_frames_move():
    ds = SyntheticVideoDataset(frames=6, size=32)
    for i in range(4):
        x = ds[i]
        step = (x[:, 1:] - x[:, :-1]).abs().mean(dim=(0, 2, 3))  # per consecutive pair
        assert (step > 1e-3).all(), f"item {i} has still frames: {step}"
    # And the motion comes from the motion parameters: without them the clip is still.
    still = SyntheticVideoDataset(frames=4, size=32, max_speed=0, pan=0, zoom=0)[0]
    assert torch.allclose(still[:, 1:], still[:, :-1], atol=1e-5)


def test_shape_count_and_noise():
    bare = SyntheticVideoDataset(frames=3, size=32, num_shapes=(0, 0), pan=0, zoom=0)[0]
    shapes = SyntheticVideoDataset(frames=3, size=32, num_shapes=(3, 3), pan=0, zoom=0)[0]
    # The shapes draw over the same background (the random stream starts the same way).
    assert (bare - shapes).abs().amax(dim=(0, 1)).gt(0.05).float().mean() > 0.05
    noisy = SyntheticVideoDataset(frames=3, size=32, noise=0.1)[0]
    clean = SyntheticVideoDataset(frames=3, size=32)[0]
    assert 0.03 < (noisy - clean).std() < 0.2


@pytest.mark.parametrize("kwargs,match", [
    (dict(frames=0), "frames"), (dict(size=-2), "size"), (dict(length=0), "length"),
    (dict(frames=2.5), "frames"), (dict(num_shapes=(3, 1)), "num_shapes"),
    (dict(num_shapes=(-1, 2)), "num_shapes"), (dict(num_shapes=3), "num_shapes"),
    (dict(max_speed=-0.1), "max_speed"), (dict(pan=float("nan")), "pan"),
    (dict(zoom=1.0), "zoom"), (dict(noise="a"), "noise"), (dict(seed=1.5), "seed")])
def test_bad_arguments(kwargs, match):
    args = dict(frames=4, size=8) | kwargs
    with pytest.raises(ValueError, match=match):
        SyntheticVideoDataset(**args)


def test_bad_index():
    ds = SyntheticVideoDataset(frames=2, size=8)
    with pytest.raises(IndexError, match=">= 0"):
        ds[-1]
    with pytest.raises(TypeError, match="integer"):
        ds[1.0]
