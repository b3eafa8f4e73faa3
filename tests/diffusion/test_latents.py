"""Latent caches: what bootvid latents writes, resume, ranks, statistics, the dataset."""

from __future__ import annotations

import os

import pytest
import torch

from bootvid.diffusion import latents as L
from dit_helpers import read_json

pytest.importorskip("av")


def _cache(tok, data, out, **kw):
    with pytest.warns(UserWarning, match="shorter than one clip of 9 frames"):
        counts = L.cache_latents(tok, data, out, 9, 32, tokenizer_ref="tok", progress=False, **kw)
    return counts


@pytest.fixture(scope="module")
def tok(tokenizer_dir):
    from bootvid.tokenizer import VideoTokenizer

    return VideoTokenizer.from_pretrained(tokenizer_dir)


def test_cache_contents_match_direct_encoding(tok, video_folder, tmp_path):
    from bootvid.data import center_crop_resize, read_frames

    out = tmp_path / "lat"
    counts = _cache(tok, video_folder, out)
    assert counts == {"encoded": 4, "skipped": 0, "clips": 4}
    index = L.finalize_cache(out)
    assert index["num_clips"] == 4 and index["latent_shape"] == [16, 3, 4, 4]
    assert index["classes"] == ["cats", "dogs"]
    assert [s["clips"] for s in index["shards"]] == [2, 1, 0, 1]
    assert index == read_json(out / "latents.json")
    # clip 1 of cats/a.mkv is frames 9..17, encoded exactly as the tokenizer does directly
    frames = read_frames(os.path.join(video_folder, "cats", "a.mkv"), 9, 9)
    with torch.no_grad():
        want = tok.encode(center_crop_resize(frames, 32).unsqueeze(0)).mean[0]
    ds = L.LatentDataset(out, normalize=False)
    got, label = ds.raw(1)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert label == 0 and ds.raw(3)[1] == 1  # cats, dogs
    # per-channel statistics over every clip
    every = torch.stack([ds.raw(i)[0] for i in range(4)])
    torch.testing.assert_close(torch.tensor(index["mean"], dtype=torch.float64), every.mean((0, 2, 3, 4)).double(),
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor(index["std"], dtype=torch.float64),
                               every.std((0, 2, 3, 4), unbiased=False).double(),
                               rtol=1e-4, atol=1e-6)


def test_dataset_normalises_and_visits_each_clip_once_per_epoch(cache_factory):
    root = cache_factory(n=6, labels=[0, 1, 0, 1, 0, 1], classes=("x", "y"))
    ds = L.LatentDataset(root, seed=3)
    assert len(ds) == 6 and ds.num_classes == 2 and ds.latent_shape == (4, 2, 4, 4)
    z = torch.stack([ds[i][0] for i in range(6)])
    assert z.mean((0, 2, 3, 4)).abs().max() < 1e-5
    assert (z.std((0, 2, 3, 4), unbiased=False) - 1).abs().max() < 1e-4
    first = sorted(ds._clip(i) for i in range(6))
    second = [ds._clip(i) for i in range(6, 12)]
    assert first == list(range(6)) and sorted(second) == list(range(6))
    assert second != [ds._clip(i) for i in range(6)]  # a new order each epoch (6! orders)
    torch.testing.assert_close(ds.denormalize(ds[2][0]), ds.raw(ds._clip(2))[0])
    assert ds[2][1].item() == ds.raw(ds._clip(2))[1]


def test_resume_encodes_only_missing_shards(tok, video_folder, tmp_path):
    out = tmp_path / "lat"
    _cache(tok, video_folder, out)
    before = L.finalize_cache(out)
    os.unlink(L.shard_path(str(out), 0))
    with pytest.raises(L.LatentCacheError, match="1 of 4 videos are not cached yet"):
        L.finalize_cache(out)
    counts = L.cache_latents(tok, video_folder, out, 9, 32, progress=False)
    assert counts == {"encoded": 1, "skipped": 3, "clips": 2}
    assert L.finalize_cache(out) == before


def test_other_settings_are_refused(tok, video_folder, tmp_path):
    out = tmp_path / "lat"
    _cache(tok, video_folder, out)
    with pytest.raises(L.LatentCacheError, match=r"other settings \(size differ\)"):
        L.cache_latents(tok, video_folder, out, 9, 24, progress=False)


def test_ranks_split_the_work_and_match_one_process(tok, video_folder, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _cache(tok, video_folder, one)
    with pytest.warns(UserWarning):  # rank 0 has videos 0 and 2 (dogs/c.mkv: too short)
        a = L.cache_latents(tok, video_folder, two, 9, 32, tokenizer_ref="tok", rank=0,
                            world_size=2, progress=False)
    b = L.cache_latents(tok, video_folder, two, 9, 32, tokenizer_ref="tok", rank=1, world_size=2,
                        progress=False)
    assert a["encoded"] == b["encoded"] == 2
    i1, i2 = L.finalize_cache(one), L.finalize_cache(two)
    assert {k: v for k, v in i1.items() if k != "data"} == {k: v for k, v in i2.items() if k != "data"}
    d1, d2 = L.LatentDataset(one, normalize=False), L.LatentDataset(two, normalize=False)
    for i in range(4):
        assert torch.equal(d1.raw(i)[0], d2.raw(i)[0])


def test_clear_errors(tok, video_folder, tmp_path):
    with pytest.raises(ValueError, match=r"clips of 1 \+ k\*4 frames, got 10; use e.g. 9"):
        L.cache_latents(tok, video_folder, tmp_path / "x", 10, 32, progress=False)
    with pytest.raises(ValueError, match="multiple of the tokenizer's spatial compression 8"):
        L.cache_latents(tok, video_folder, tmp_path / "x", 9, 30, progress=False)
    with pytest.raises(L.LatentCacheError, match="is not a latent cache"):
        L.LatentDataset(tmp_path)
    L.cache_latents(tok, os.path.join(video_folder, "cats"), tmp_path / "u", 9, 32, progress=False)
    with pytest.raises(L.LatentCacheError, match="the latent cache is not finished"):
        L.LatentDataset(tmp_path / "u")
    # videos directly in the data folder: an unconditional cache
    index = L.finalize_cache(tmp_path / "u")
    assert index["classes"] == [] and index["labels"] is None
    assert L.LatentDataset(tmp_path / "u")[0][1].item() == -1
