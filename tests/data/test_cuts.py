"""Hard cuts: the detector, and shots encoded on their own (API, files, eval)."""

from __future__ import annotations

import json

import pytest
import torch

from bootvid.data import CutDetector, detect_cuts
from bootvid.tokenizer import TokenizerConfig, VideoTokenizer
from bootvid.tokenizer.shots import check_cuts, latent_ranges, shot_ranges

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _scene(T: int, seed: int, H: int = 48, W: int = 64) -> torch.Tensor:
    """A moving scene, uint8 (T, H, W, 3): smooth colour blobs from the seed, a pan of 2 px per
    frame (motion that must not read as a cut)."""
    g = torch.Generator().manual_seed(seed)
    big = torch.rand(1, 3, H // 12 + 1, (W + 2 * T) // 12 + 1, generator=g)
    big = torch.nn.functional.interpolate(big, scale_factor=12, mode="bilinear")[0]
    tint = torch.rand(3, 1, 1, generator=g) * 0.6 + 0.2
    frames = [(big[:, :H, 2 * t:2 * t + W] * tint * 255) for t in range(T)]
    return torch.stack(frames).permute(0, 2, 3, 1).round().clamp(0, 255).byte()


def _joined(lengths=(21, 14, 30), seeds=(1, 2, 3)):
    return torch.cat([_scene(n, s) for n, s in zip(lengths, seeds)])


def test_the_detector_finds_hard_cuts_and_not_motion():
    v = _joined()
    assert detect_cuts(v) == [21, 35]
    assert detect_cuts(_scene(40, 5)) == []  # a pan, no cut
    # online, chunk by chunk: the same cuts
    det = CutDetector()
    found = [c for chunk in v.split(8) for c in det.push(chunk)]
    assert found == [21, 35] and len(det.scores) == len(v)
    # a flash of 2 frames is not two shots (min_shot), a longer shot is
    flash = torch.cat([_scene(20, 1), _scene(2, 9), _scene(20, 1)[2:]])
    assert len(detect_cuts(flash)) <= 1
    assert detect_cuts(v, max_frames=30) == [21]


def test_shot_ranges_and_their_latents():
    assert shot_ranges(65, [21, 35]) == [(0, 21), (21, 35), (35, 65)]
    # 21 frames -> 1 + 5 latents at 4x, 14 -> 1 + 4, 30 -> 1 + 8
    assert latent_ranges(65, [21, 35], 4) == [(0, 6), (6, 11), (11, 20)]
    for bad in ([0], [65], [30, 20], [5, 5], ["a"]):
        with pytest.raises(ValueError, match="cuts"):
            check_cuts(bad, 65)


@pytest.fixture(scope="module")
def tok():
    torch.manual_seed(0)
    return VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4)).eval()


def test_encode_with_cuts_is_each_shot_on_its_own(tok):
    from bootvid.tokenizer.video import frames_to_video

    v = _joined()
    x = frames_to_video(v)
    cuts = [21, 35]
    with torch.no_grad():
        z = tok.encode(x, cuts=cuts).mode()
        assert z.shape[2] == 20
        shots = [tok.decode(tok.encode(x[:, :, a:b]).mode(), b - a) for a, b in
                 shot_ranges(65, cuts)]
        whole = tok.decode(z, num_frames=65, cuts=cuts)
        torch.testing.assert_close(whole, torch.cat(shots, 2), atol=1e-5, rtol=1e-5)
        # streamed in chunks: the same latents, shot by shot
        torch.testing.assert_close(tok.encode(x, chunk_frames=8, cuts=cuts).mode(), z,
                                   atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(tok.decode(z, 65, chunk_latents=2, cuts=cuts), whole,
                                   atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="cuts need num_frames"):
        tok.decode(z, cuts=cuts)
    with pytest.raises(ValueError, match="encode to 20 latent frames, but z has 19"):
        tok.decode(z[:, :, :19], 65, cuts=cuts)


def test_files_record_their_shots_and_decode_restores_the_same_frames(tok, tmp_path):
    from bootvid.data import read_frames, write_video
    from bootvid.eval import decode_file, encode_file, reconstruct_file

    src = tmp_path / "joined.mkv"
    write_video(src, _joined(), 24, codec="ffv1")
    r = reconstruct_file(tok, str(src), str(tmp_path / "rec.mkv"), chunk_frames=8,
                         codec="ffv1", cuts="auto")
    assert r["cuts"] == [21, 35]
    e = encode_file(tok, str(src), str(tmp_path / "z.safetensors"), chunk_frames=8,
                    cuts="auto")
    assert e["cuts"] == [21, 35] and e["latent_shape"][1] == 20
    d = decode_file(tok, str(tmp_path / "z.safetensors"), str(tmp_path / "dec.mkv"),
                    chunk_latents=3, codec="ffv1")
    assert d["frames"] == 65 and d["cuts"] == [21, 35]
    a = read_frames(tmp_path / "rec.mkv", 0, 65).int()
    b = read_frames(tmp_path / "dec.mkv", 0, 65).int()
    assert (a - b).abs().max() <= 1
    for bad in ([5, 5], [0], [70]):  # given cuts are checked before anything is written
        with pytest.raises(ValueError, match="cuts"):
            encode_file(tok, str(src), str(tmp_path / "bad.safetensors"), cuts=bad)
    assert not (tmp_path / "bad.safetensors").exists()
    # off: one stream, one latent per 4 frames across the cuts
    off = encode_file(tok, str(src), str(tmp_path / "z_off.safetensors"), cuts="off")
    assert off["cuts"] == [] and off["latent_shape"][1] == 17


def test_cli_and_eval_say_which_cuts_they_used(tmp_path, capsys):
    from bootvid.cli.main import main
    from bootvid.data import write_video
    from bootvid.eval import evaluate

    torch.manual_seed(0)
    tok = VideoTokenizer(TokenizerConfig.preset("tiny", base_channels=16, norm_groups=4))
    tok.save_pretrained(tmp_path / "m")
    src = tmp_path / "joined.mkv"
    write_video(src, _joined(), 24, codec="ffv1")
    assert main(["reconstruct", "--model", str(tmp_path / "m"), str(src),
                 str(tmp_path / "r.mp4"), "--json", str(tmp_path / "r.json"),
                 "--no-progress"]) == 0
    assert "3 shots, each encoded on its own (cuts before frames 21, 35)" in \
        capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["cuts"] == [21, 35]
    s = evaluate(tok.eval(), [str(src)], frames=None, size=None, cuts="auto")
    assert s["videos"][0]["cuts"] == [21, 35]
    s = evaluate(tok, [str(src)], frames=33, size=32, cuts="auto")
    assert s["videos"][0]["cuts"] == [21]
    assert evaluate(tok, [str(src)], frames=33, size=32)["videos"][0]["cuts"] == []


def test_latent_caches_take_clips_within_shots(tok, tmp_path):
    from bootvid.data import write_video
    from bootvid.diffusion.latents import LatentCacheError, cache_latents

    data = tmp_path / "videos"
    data.mkdir()
    write_video(data / "joined.mkv", _joined(), 24, codec="ffv1")
    # shots of 21, 14 and 30 frames hold 2 + 1 + 3 clips of 9; one stream holds 65 // 9 = 7
    auto = cache_latents(tok, data, tmp_path / "auto", clip_frames=9, size=32, progress=False)
    off = cache_latents(tok, data, tmp_path / "off", clip_frames=9, size=32, progress=False,
                        cuts="off")
    assert (auto["clips"], off["clips"]) == (6, 7)
    with pytest.raises(LatentCacheError, match="cuts"):
        cache_latents(tok, data, tmp_path / "auto", clip_frames=9, size=32, progress=False,
                      cuts="off")
