"""bootvid eval / compare: the protocol, its JSON, tables, plots and errors."""

from __future__ import annotations

import json
import os

import pytest
import torch

from bootvid.cli.main import main
from bootvid.eval import evaluate, load_reference
from bootvid.tokenizer import VideoTokenizer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_reference_is_the_centre_crop_of_the_first_frames(video_file):
    from bootvid.data import read_frames

    path = video_file(12, 48, 80)
    ref = load_reference(path, frames=9, size=32)
    assert ref.shape == (9, 32, 32, 3) and ref.dtype == torch.uint8
    src = read_frames(path, 0, 9)
    # shorter side 48 -> 32: the centre column of the source maps to the centre of the crop
    mid = src[:, 24, 40].float()
    torch.testing.assert_close(ref[:, 16, 16].float(), mid, atol=12, rtol=0)


def test_eval_json_schema_table_and_plots(model_dir, video_file, tmp_path, capsys):
    vids = [video_file(20, 48, 64, seed=1), video_file(20, 40, 72, seed=2)]
    out = tmp_path / "res.json"
    plots = tmp_path / "plots"
    assert main(["eval", "--model", model_dir, "--videos", *vids, "--frames", "9", "--size",
                 "32", "--json", str(out), "--plots", str(plots)]) == 0
    text = capsys.readouterr().out
    assert "PSNR dB" in text and "mean" in text
    res = json.loads(out.read_text())
    assert {"model", "temporal_compression", "spatial_compression", "latent_channels",
            "frames", "size", "psnr", "ssim", "videos"} <= set(res)
    assert (res["temporal_compression"], res["spatial_compression"], res["frames"],
            res["size"]) == (4, 8, 9, 32)
    assert [v["path"] for v in res["videos"]] == vids
    for v in res["videos"]:
        assert {"path", "psnr", "ssim", "psnr_per_frame"} <= set(v)
        assert len(v["psnr_per_frame"]) == 9
    mean = sum(v["psnr"] for v in res["videos"]) / 2
    assert res["psnr"] == pytest.approx(mean)
    names = sorted(os.listdir(plots))
    assert "psnr_per_frame.png" in names and len([n for n in names if n.startswith("frames_")]) == 2
    assert all((plots / n).stat().st_size > 1000 for n in names)


def test_eval_of_a_folder_matches_the_python_api(model_dir, video_file, tmp_path):
    path = video_file(10, 48, 64, seed=3)
    tok = VideoTokenizer.from_pretrained(model_dir)
    s = evaluate(tok, [path], frames=5, size=32)
    assert s["videos"][0]["psnr"] == s["psnr"] and 0 < s["ssim"] < 1


def test_compare_writes_one_table_and_plot(model_dir, other_model_dir, video_file, tmp_path,
                                           capsys):
    v = video_file(10, 48, 64, seed=4)
    assert main(["compare", "--models", model_dir, other_model_dir, "--videos", v, "--frames",
                 "5", "--size", "32", "--plots", str(tmp_path), "--json",
                 str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert out.count(model_dir) >= 2 and out.count(other_model_dir) >= 2
    assert (tmp_path / "compare_psnr.png").stat().st_size > 1000
    res = json.loads((tmp_path / "c.json").read_text())
    assert [m["model"] for m in res["models"]] == [model_dir, other_model_dir]


def test_errors_name_the_file(model_dir, video_file, tmp_path, capsys):
    short = video_file(6, 48, 64, seed=5)
    assert main(["eval", "--model", model_dir, "--videos", short, "--frames", "9"]) == 2
    err = capsys.readouterr().err
    assert short in err and "Traceback" not in err
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(os.urandom(2000))
    assert main(["eval", "--model", model_dir, "--videos", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert main(["eval", "--model", model_dir, "--videos", short, "--size", "30"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path / "nomodel"), "--videos", short]) == 2
    assert "model not found" in capsys.readouterr().err


def test_a_run_directory_counts_as_a_model(model_dir, tmp_path):
    import shutil

    from bootvid.train import resolve_model_dir

    run = tmp_path / "run"
    shutil.copytree(model_dir, run / "model")
    assert resolve_model_dir(run)[0] == str(run / "model")
    shutil.copytree(model_dir, run / "model_ema")
    d, what = resolve_model_dir(run)
    assert d == str(run / "model_ema") and "EMA" in what
    (tmp_path / "unfinished" / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="has not finished"):
        resolve_model_dir(tmp_path / "unfinished")


def test_lpips_from_a_local_weights_file(model_dir, video_file, tmp_path, capsys):
    from safetensors.torch import save_file

    from bootvid.train.perceptual import LPIPS

    state = {k: (v.abs() if k.startswith("lin") else v).contiguous()
             for k, v in LPIPS().state_dict().items()}
    weights = tmp_path / "lpips.safetensors"
    save_file(state, str(weights))
    v = video_file(10, 48, 64, seed=6)
    out = tmp_path / "r.json"
    assert main(["eval", "--model", model_dir, "--videos", v, "--frames", "5", "--size", "32",
                 "--lpips", str(weights), "--json", str(out)]) == 0
    assert "LPIPS" in capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["lpips"] > 0 and res["videos"][0]["lpips"] == res["lpips"]
    assert main(["eval", "--model", model_dir, "--videos", v, "--lpips",
                 str(tmp_path / "missing.pth")]) == 2
    assert "nothing is downloaded" in capsys.readouterr().err.lower()


def test_stride_evaluates_a_subsampled_video(model_dir, video_file, tmp_path):
    from bootvid.data import read_frames

    path = video_file(20, 48, 64, seed=9)
    ref = load_reference(path, frames=5, size=48, stride=4)
    src = read_frames(path, 0, 17)[::4]  # 48x64 -> centre 48x48 crop, no resize
    torch.testing.assert_close(ref.float(), src[:, :, 8:56].float(), atol=1, rtol=0)
    out = tmp_path / "s.json"
    assert main(["eval", "--model", model_dir, "--videos", path, "--frames", "5", "--size",
                 "32", "--stride", "4", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["stride"] == 4 and len(res["videos"][0]["psnr_per_frame"]) == 5
    with pytest.raises(Exception, match="17 .*5 frames, stride 4"):
        load_reference(video_file(12, 48, 64, seed=9), frames=5, size=32, stride=4)


def test_frame_grids_are_labelled(tmp_path):
    """Rows input / reconstruction / |error| x4, columns by frame index, the title given."""
    pytest.importorskip("matplotlib")
    import torch

    from bootvid.eval.plots import save_frame_grid

    ref = torch.randint(0, 256, (9, 16, 16, 3), dtype=torch.uint8)
    rec = (ref.int() + 10).clamp(0, 255).byte()
    texts = []
    import matplotlib.figure

    real_suptitle = matplotlib.figure.Figure.suptitle

    def spy(fig, t, **kw):
        texts.append(t)
        for ax in fig.axes:
            texts.extend([ax.get_ylabel(), ax.get_xlabel()])
        return real_suptitle(fig, t, **kw)

    import unittest.mock

    with unittest.mock.patch.object(matplotlib.figure.Figure, "suptitle", spy):
        path = save_frame_grid(ref, rec, str(tmp_path / "g.png"), max_frames=4,
                               title="clip through tiny-4x: PSNR 28.1 dB")
    assert os.path.getsize(path) > 1000
    assert texts[0] == "clip through tiny-4x: PSNR 28.1 dB"
    labels = set(texts[1:])
    assert {"input", "reconstruction", "|error| x4"} <= labels
    assert {"frame 0", "frame 3", "frame 5", "frame 8"} <= labels


def _whole_clip_reconstruction(tok, frames):
    """The reference computation: the whole clip at once, padded to multiples of the spatial
    compression and cropped back (what streaming must equal)."""
    from bootvid.eval.codec import frames_to_input, output_to_frames
    from bootvid.tokenizer.streaming import reconstruct_video

    hw = tuple(frames.shape[1:3])
    x = frames_to_input(frames, hw, tok.spatial_compression, "cpu", torch.float32)
    with torch.no_grad():
        return output_to_frames(reconstruct_video(tok, x), hw)


def test_whole_videos_at_native_size_on_odd_sizes(model_dir, video_file, tmp_path, capsys):
    from bootvid.data import VideoReadError, read_frames
    from bootvid.eval.metrics import psnr, psnr_per_frame, ssim

    tok = VideoTokenizer.from_pretrained(model_dir)
    src = video_file(37, 27, 45, seed=4)  # longer than a streamed chunk; odd sizes
    s = evaluate(tok, [src], frames=None, size=None)
    ref = read_frames(src, 0, 37)
    rec = _whole_clip_reconstruction(tok, ref)
    v = s["videos"][0]
    assert (s["frames"], s["size"]) == ("all", "native") and len(v["psnr_per_frame"]) == 37
    assert v["psnr"] == pytest.approx(psnr(ref, rec), abs=0.02)
    assert v["ssim"] == pytest.approx(ssim(ref, rec), abs=1e-3)
    torch.testing.assert_close(torch.tensor(v["psnr_per_frame"], dtype=torch.float64),
                               psnr_per_frame(ref, rec), atol=0.05, rtol=0)
    # N frames at native size; all frames with the protocol's crop
    assert len(evaluate(tok, [src], frames=9, size=None)["videos"][0]["psnr_per_frame"]) == 9
    assert len(evaluate(tok, [src], frames=None, size=16)["videos"][0]["ssim_per_frame"]) == 37
    with pytest.raises(VideoReadError, match="has 37 frames, but 40"):
        evaluate(tok, [src], frames=40, size=None)
    for frames, size in ((None, 16), (9, None)):
        with pytest.raises(ValueError, match="--stride needs the fixed protocol"):
            evaluate(tok, [src], frames=frames, size=size, stride=2)
    out = tmp_path / "r.json"
    assert main(["eval", "--model", model_dir, "--videos", src, "--frames", "all", "--size",
                 "native", "--json", str(out), "--plots", str(tmp_path / "p")]) == 0
    assert "all frames at native size" in capsys.readouterr().out
    assert json.loads(out.read_text())["videos"][0]["psnr"] == pytest.approx(v["psnr"])
    assert (tmp_path / "p" / "psnr_per_frame.png").exists()
    with pytest.raises(SystemExit) as exited:
        main(["eval", "--model", model_dir, "--videos", src, "--frames", "most"])
    assert exited.value.code == 2
    assert "expected a positive integer or all" in capsys.readouterr().err
