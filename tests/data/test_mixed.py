"""MixedDataset: sources drawn by weight, a share of single frames, deterministic items, and
the collate that batches clips of different lengths."""

from __future__ import annotations

import pytest
import torch

from bootvid.data import MixedDataset, SyntheticVideoDataset, collate_by_length


def _sources(frames: int = 5, size: int = 8, n: int = 3):
    return [SyntheticVideoDataset(frames=frames, size=size, seed=k) for k in range(n)]


@pytest.mark.parametrize("weights", [[3, 1, 1], [1, 1, 1], [0.7, 0.2, 0.1]])
@pytest.mark.parametrize("seed", [0, 5])
def test_empirical_source_shares_match_the_weights_within_3_percent(weights, seed):
    ds = MixedDataset(_sources(), weights, image_ratio=0.2, seed=seed)
    n = 3000
    described = [ds.describe(i) for i in range(n)]
    total = sum(weights)
    for k, w in enumerate(weights):
        share = sum(s == k for s, _ in described) / n
        assert abs(share - w / total) <= 0.03 * w / total, (k, share, w / total)
    images = sum(img for _, img in described) / n
    assert abs(images - 0.2) <= 0.03 * 0.2
    # the image choice does not favour a source (the two sequences do not lock together)
    for k, w in enumerate(weights):
        of_k = [img for s, img in described if s == k]
        assert abs(sum(of_k) / len(of_k) - 0.2) < 0.05, k


def test_items_come_from_their_source_with_their_length():
    sources = _sources(frames=5)
    ds = MixedDataset(sources, [1, 2, 1], image_ratio=0.3)
    for i in range(40):
        source, image = ds.describe(i)
        x = ds[i]
        assert x.shape == (3, 1 if image else 5, 8, 8)
    assert ds.images is not None and all(s.frames == 1 for s in ds.images)
    assert all(s.frames == 5 for s in ds.sources)  # the clip sources are left as they were


def test_an_item_is_a_function_of_seed_and_index():
    a = MixedDataset(_sources(), image_ratio=0.25, seed=1)
    b = MixedDataset(_sources(), image_ratio=0.25, seed=1)
    c = MixedDataset(_sources(), image_ratio=0.25, seed=2)
    assert all(torch.equal(a[i], b[i]) for i in (0, 3, 10**9))
    assert [a.describe(i) for i in range(50)] != [c.describe(i) for i in range(50)]
    assert not torch.equal(a[0], a[1])


def test_no_images_without_image_ratio():
    ds = MixedDataset(_sources())
    assert ds.images is None and not any(ds.describe(i)[1] for i in range(200))


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": [1, 0, 1]}, "weight of source 1 must be a number > 0"),
    ({"weights": [1, -2, 1]}, "weight of source 1 must be a number > 0"),
    ({"weights": [1, float("nan"), 1]}, "weight of source 1"),
    ({"weights": [1, 1]}, "2 weights for 3 sources"),
    ({"image_ratio": 1.0}, "image_ratio is the share of single-frame items"),
    ({"image_ratio": -0.1}, "image_ratio"),
    ({"names": ["a"]}, "1 names for 3 sources"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixedDataset(_sources(), **kwargs)
    with pytest.raises(ValueError, match="no sources"):
        MixedDataset([])


def test_collate_groups_by_length_shortest_first():
    items = [(0, torch.zeros(3, 5, 4, 4)), (1, torch.ones(3, 1, 4, 4)),
             (2, torch.full((3, 5, 4, 4), 2.0)), (3, torch.full((3, 1, 4, 4), 3.0))]
    groups = collate_by_length(items)
    assert [g[0].tolist() for g in groups] == [[1, 3], [0, 2]]
    assert [tuple(g[1].shape) for g in groups] == [(2, 3, 1, 4, 4), (2, 3, 5, 4, 4)]
    assert groups[1][1][1].eq(2.0).all()
    same = collate_by_length(items[::2])
    assert len(same) == 1 and same[0][0].tolist() == [0, 2]


def test_collate_takes_bare_clips_straight_from_a_mixed_dataset():
    from torch.utils.data import DataLoader

    ds = MixedDataset(_sources(frames=5), image_ratio=0.3)
    batches = list(DataLoader(ds, batch_size=6, collate_fn=collate_by_length))[:3]
    for groups in batches:
        assert sum(len(pos) for pos, _ in groups) == 6
        assert [g.shape[2] for _, g in groups] == sorted(g.shape[2] for _, g in groups)
    first = batches[0]
    for pos, clips in first:
        for p, clip in zip(pos.tolist(), clips):
            assert torch.equal(clip, ds[p])


def test_with_frames_keeps_the_mix():
    ds = MixedDataset(_sources(frames=5), [2, 1, 1], image_ratio=0.3, seed=4)
    longer = ds.with_frames(9)
    assert [ds.describe(i) for i in range(30)] == [longer.describe(i) for i in range(30)]
    shapes = {longer[i].shape[1] for i in range(30)}
    assert shapes == {1, 9}
