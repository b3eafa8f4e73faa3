"""BENCHMARKS.md from pytest-benchmark JSON files of the benchmark suites (benchmarks/test_*.py).

    python -m benchmarks.report RUN.json [RUN2.json ...] [--plots DIR] [--strict] > BENCHMARKS.md

Each file is one run (``pytest benchmarks --benchmark-json=RUN.json``; e.g. a CPU run and a GPU
run of scripts/gpu_check.sh). The rows of each run are split by device, and each (run, device)
gets its own section: the machine, the commit, the exact command, when it was measured and how
long it took; then the tables of medians and of the ratios each benchmark recorded against its
baseline in the same run (ops vs eager and compiled composites; the tokenizer with kernels vs
reference ops, the grown and direct tokenizers vs the 4x one; streamed vs whole-clip peak
memory; bootvid vs diffusers' VAEs; the DiT on 16x vs 4x latents), and the targets, PASS or
FAIL (a missed target is reported as missed). A summary of every target comes first.

``--plots DIR``: PNG plots per section under DIR (throughput per model, peak memory vs frames
and vs resolution; matplotlib is imported only then), linked from the markdown by their path
relative to the current directory (run it from the repository root). ``--notes FILE``
(default benchmarks/notes.md; ``--no-notes``): hand-written, dated notes on reading the figures,
after the targets summary. ``--history FILE`` (default benchmarks/history.md; ``--no-history``):
earlier measurements, kept verbatim at the end. ``--strict``: exit 1 when a target is missed
(default: always 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# op -> minimum speed-up of the kernel over the eager composite (both passes)
TARGETS = {
    "group_norm_act": 1.5,
    "adaptive_group_norm": 2.0,
    "pixel_unshuffle_3d": 1.5,
    "pixel_shuffle_3d": 1.5,
    "causal_conv3d": 1.0,
}
MEMORY_BOUND = {"group_norm_act", "adaptive_group_norm", "pixel_unshuffle_3d", "pixel_shuffle_3d"}
OPS = ["causal_conv3d", "group_norm_act", "adaptive_group_norm", "pixel_unshuffle_3d",
       "pixel_shuffle_3d"]
#: whole tokenizer with kernels / with reference ops, by device class
TOKENIZER_TARGET = {"CPU": 1.15, "GPU": 1.5}
#: streamed peak memory at the longest clip / at 33 frames
STREAM_MEMORY_TARGET = 1.2
#: DiT steps per second of video on 16x latents / on 4x latents, same clip
DIT_TARGET = 3.0
#: the fast preset's training step: clips/s over tiny's (fp32), and its share of the conv peak
FAST_STEP_TARGET, FAST_MFU_TARGET = 5.0, 0.40
#: bootvid's presets held to the peer Wan VAE's encode + decode time per frame
PEER_TARGET_PRESETS = ("small", "base")
_HISTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "history.md")
_NOTES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")


def _ms(s):
    return "–" if s is None else (f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.2f} ms")


def _x(r):
    return "–" if r is None else f"{r:.2f}x"


def _mib(b):
    return f"{b / 2**20:.1f} MiB"


def _mb(v):
    return "–" if v is None else f"{v:,.0f} MiB"


def _fps(v):
    return "–" if v is None else (f"{v:.1f}" if v >= 10 else f"{v:.2f}")


def _med(b):
    return b["stats"]["median"]


class Checks(list):
    """(text, ok) pairs of one section."""

    def add(self, text: str, ok: bool) -> None:
        self.append((text, bool(ok)))


# ---- ops (benchmarks/test_ops.py) -----------------------------------------------------------

def _ops_tables(rows, data, checks: Checks, h: str = "###") -> list[str]:
    out: list[str] = []

    def med(op, pass_, variant):
        for b in rows:
            e = b["extra_info"]
            if (e.get("op"), e.get("pass"), e.get("variant")) == (op, pass_, variant):
                return _med(b), e
        return None, None

    e0 = rows[0]["extra_info"]
    out.append(f"{h} Ops (`benchmarks/test_ops.py`)\n")
    out.append(f"Each op against its eager PyTorch composite (`benchmarks/op_baselines.py`) and "
               f"torch.compile of it, same run. Shape (B, C, T, H, W) = {tuple(e0['shape'])}, "
               f"dtype {e0['dtype']}, device {e0['device']}, {e0['threads']} threads. Medians; "
               "speed-up = composite median / kernel median.\n")
    copy_t, copy_e = med("copy", "fwd", "copy")
    clone_t, clone_e = med("copy", "fwd", "clone")
    copy_bw = copy_e["gbps"] if copy_e else None
    clone_bw = clone_e["gbps"] if clone_e else None
    if copy_e:
        out.append(f"Plain copy of one video ({_mib(copy_e['bytes_moved'] / 2)} read + written) "
                   f"into a reused buffer (`dst.copy_(src)`): {_ms(copy_t)}, {copy_bw:.1f} GB/s.")
    if clone_e:
        out.append(f"The same copy into fresh memory (`src.clone()`, what an op that returns a new "
                   f"tensor pays): {_ms(clone_t)}, {clone_bw:.1f} GB/s. Goal for the memory-bound "
                   "ops: >= 60% of this bandwidth.\n")

    for op in OPS:
        if med(op, "fwd", "kernel")[0] is None and med(op, "fwd+bwd", "kernel")[0] is None:
            continue
        target = TARGETS[op]
        out.append(f"**{op}**\n")
        head = ["pass", "kernel", "eager", "compiled", "speed-up vs eager",
                "speed-up vs compiled"]
        if op in MEMORY_BOUND:
            head += ["kernel GB/s", "of copy_ BW", "of clone BW", "eager GB/s"]
        head += [f"target (>= {target}x eager)"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for pass_ in ("fwd", "fwd+bwd"):
            k, ke = med(op, pass_, "kernel")
            e, ee = med(op, pass_, "eager")
            c, _ = med(op, pass_, "compiled")
            if k is None:
                continue
            se = e / k if e else None
            sc = c / k if c else None
            cells = [pass_, _ms(k), _ms(e), _ms(c), _x(se), _x(sc)]
            if op in MEMORY_BOUND:
                frac = f"{ke['gbps'] / copy_bw:.0%}" if copy_bw else "–"
                frac_clone = f"{ke['gbps'] / clone_bw:.0%}" if clone_bw else "–"
                cells += [f"{ke['gbps']:.1f}", frac, frac_clone,
                          f"{ee['gbps']:.1f}" if ee else "–"]
            ok = se is not None and se >= target
            if se is not None:
                checks.add(f"op {op} {pass_}: {se:.2f}x eager (target >= {target}x)", ok)
            cells.append("PASS" if ok else ("FAIL" if se is not None else "–"))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        if op == "causal_conv3d":
            mem = [b["extra_info"] for b in rows if b["extra_info"].get("op") == op
                   and b["extra_info"].get("variant") == "peak_memory"]
            if mem:
                out.append("Peak memory of one call (child process; "
                           f"{mem[0].get('method', '')}), over the inputs already allocated:\n")
                out.append("| pass | kernel | F.pad + conv3d | eager / kernel | target (lower) |")
                out.append("|---|---|---|---|---|")
                for m in mem:
                    ok = m["peak_bytes_kernel"] < m["peak_bytes_eager"]
                    checks.add(f"op {op} {m['pass']} peak memory: {_mib(m['peak_bytes_kernel'])} "
                               f"vs {_mib(m['peak_bytes_eager'])} (target: lower)", ok)
                    out.append(f"| {m['pass']} | {_mib(m['peak_bytes_kernel'])} | "
                               f"{_mib(m['peak_bytes_eager'])} | "
                               f"{m['peak_ratio_eager_over_kernel']:.2f}x | "
                               f"{'PASS' if ok else 'FAIL'} |")
                out.append("")
    return out


# ---- tokenizer (benchmarks/test_tokenizer.py) -----------------------------------------------

def _tokenizer_tables(rows, checks: Checks, cls: str, h: str = "###") -> list[str]:
    out: list[str] = []
    target = TOKENIZER_TARGET[cls]
    infos = [b["extra_info"] for b in rows]
    by = {(i["table"], i["model"], i["op"], i["backend"]): i for i in infos if "backend" in i}
    presets = [i for i in infos if i.get("table") == "presets"]
    if presets:
        i0 = presets[0]
        out.append(f"{h} Tokenizer throughput (`benchmarks/test_tokenizer.py`)\n")
        out.append(f"Each 4x preset on a {i0['frames']}x{i0['size']} clip (batch 1, "
                   f"{i0['dtype']}, {i0['device']}, {i0['threads']} threads, random weights, "
                   "inference mode), with bootvid's compiled kernels and with the pure-PyTorch "
                   "reference ops in the same run; frames/s from the median. The encode + decode "
                   f"row is the whole tokenizer (target: kernels >= {target}x the reference ops "
                   f"on {cls}).\n")
        out.append("| preset | params | op | kernels frames/s | reference frames/s | speed-up | "
                   "target |")
        out.append("|---|---|---|---|---|---|---|")
        for preset in dict.fromkeys(i["model"] for i in presets):
            pieces = {}
            for op in ("encode", "decode"):
                k, r = by.get(("presets", preset, op, "kernels")), by.get(
                    ("presets", preset, op, "reference"))
                if not k and not r:
                    continue
                i = k or r
                sp = k.get("speedup_vs_reference") if k else None
                out.append(f"| {preset} | {i['params_M']}M | {op} | "
                           f"{_fps(k and k['frames_per_s'])} | {_fps(r and r['frames_per_s'])} | "
                           f"{_x(sp)} | |")
                if k and "reference_s" in k:
                    pieces[op] = (k["frames"] / k["frames_per_s"], k["reference_s"])
            if len(pieces) == 2:
                kt = sum(p[0] for p in pieces.values())
                rt = sum(p[1] for p in pieces.values())
                sp = rt / kt
                ok = sp >= target
                n = i["frames"]
                checks.add(f"tokenizer {preset} encode + decode: {sp:.2f}x the reference ops "
                           f"(target >= {target}x)", ok)
                out.append(f"| {preset} | {i['params_M']}M | **encode + decode** | "
                           f"{_fps(n / kt)} | {_fps(n / rt)} | {_x(sp)} | "
                           f"{'PASS' if ok else 'FAIL'} |")
        out.append("")
    growth = [i for i in infos if i.get("table") == "growth"]
    if growth:
        gi = {(i["model"], i["op"], i["backend"]): i for i in growth}
        enc = next((i for i in growth if i["op"] != "train_step"), growth[0])
        tr = next((i for i in growth if i["op"] == "train_step"), None)
        out.append(f"{h} Tokenizer growth: 4x, grown 8x / 16x, direct 8x / 16x\n")
        out.append(f"Preset {enc['preset']!r}: the 4x tokenizer, the 8x and 16x tokenizers grown "
                   "on it (`bootvid.grow`, ProMAG: a frozen lower model plus a trained stage) and "
                   "the direct 8x / 16x baselines (`TokenizerConfig.direct`, trained from "
                   f"scratch). Encode and decode on a {enc['frames']}x{enc['size']} clip"
                   + (f"; training step (forward + backward + AdamW step of an L1 + MSE "
                      f"reconstruction loss, batch 1) on a {tr['frames']}x{tr['size']} clip"
                      if tr else "")
                   + f". {enc['dtype']}, {enc['device']}, {enc['threads']} threads; frames/s "
                   "from the median; speed-up = reference / kernels; vs 4x = the 4x model's "
                   "median / this one's (kernels), same op and run.\n")
        out.append("| model | tc | params (trainable) | op | kernels frames/s | "
                   "reference frames/s | speed-up | vs 4x |")
        out.append("|---|---|---|---|---|---|---|---|")
        for model in dict.fromkeys(i["model"] for i in growth):
            for op in ("encode", "decode", "train_step"):
                k, r = gi.get((model, op, "kernels")), gi.get((model, op, "reference"))
                i = k or r
                if not i:
                    continue
                out.append(f"| {model} | {i['tc']}x | {i['params_M']}M ({i['trainable_M']}M) | "
                           f"{op} | {_fps(k and k['frames_per_s'])} | "
                           f"{_fps(r and r['frames_per_s'])} | "
                           f"{_x(k.get('speedup_vs_reference') if k else None)} | "
                           f"{_x(k.get('speed_vs_4x') if k else None)} |")
                if model == "4x" and op == "train_step" and k and "speedup_vs_reference" in k:
                    sp = k["speedup_vs_reference"]
                    checks.add(f"tokenizer training step (4x, {k['frames']}x{k['size']}): "
                               f"{sp:.2f}x the reference ops (target >= {target}x)", sp >= target)
        out.append("")
        out.append("Latent size of the encode/decode clip, and per second of 24 fps video (the "
                   "token budget a diffusion model pays; T' x H' x W'):\n")
        out.append("| model | tc | latent (C, T', H', W') | latent tokens | tokens per video "
                   "second |")
        out.append("|---|---|---|---|---|")
        for model in dict.fromkeys(i["model"] for i in growth):
            i = gi.get((model, "encode", "kernels")) or gi.get((model, "encode", "reference"))
            if i:
                out.append(f"| {model} | {i['tc']}x | {tuple(i['latent_shape'][1:])} | "
                           f"{i['latent_tokens']} | {i['latent_tokens_per_video_s']} |")
        out.append("")
    for i in infos:
        if i.get("table") == "tiling":
            out.append(f"Tiling seam error ({i['preset']}, {i['frames']}x{i['size']}, tile "
                       f"{i['tile_size']}, fp32): encode max |tiled - untiled| "
                       f"{i['encode_max_abs_err']:.1e}, decode {i['decode_max_abs_err']:.1e} "
                       f"(mean {i['decode_mean_abs_err']:.1e}; the decoded signal's std is "
                       f"{i['decode_signal_std']:.2f}).\n")
    return out


# ---- memory (benchmarks/test_memory.py) -----------------------------------------------------

def _memory_tables(rows, checks: Checks, h: str = "###") -> list[str]:
    infos = [b["extra_info"] for b in rows]
    out = [f"{h} Peak memory (`benchmarks/test_memory.py`)\n"]
    i0 = infos[0]
    chunk = next((i["chunk_frames"] for i in infos if i.get("chunk_frames")), 16)
    out.append(f"Each point in a fresh child process ({i0['method']}): `stream` feeds the frames "
               f"from a generator in chunks of {chunk} "
               "and consumes the output as it comes (`bootvid.tokenizer.stream_reconstruct`); "
               "`whole` encodes and decodes the whole clip at once (input and output held). "
               "Peak = the process's peak over the run (torch, the model and the input "
               "included); working = peak - the process before the run. Preset "
               f"{i0['preset']!r} ({i0['params_M']}M parameters), {i0['dtype']}, "
               f"{i0['device']}.\n")
    for sweep, key, label in (("frames", "frames", "frames"),
                              ("resolution", "size", "size")):
        pts = [i for i in infos if i.get("sweep") == sweep]
        if not pts:
            continue
        fixed = (f"at {pts[0]['size']}x{pts[0]['size']}" if sweep == "frames"
                 else f"{pts[0]['frames']} frames")
        ref_key = next((k for i in pts for k in i if k.startswith("peak_vs_")), None)
        ref_name = ref_key[len("peak_vs_"):].replace("_", " ") if ref_key else "–"
        out.append(f"Against the {'length' if sweep == 'frames' else 'resolution'} ({fixed}):\n")
        out.append(f"| {label} | stream peak | stream working | whole peak | whole working | "
                   f"whole / stream | stream vs {ref_name} |")
        out.append("|---|---|---|---|---|---|---|")
        for v in dict.fromkeys(i[key] for i in pts):
            s = next((i for i in pts if i[key] == v and i["mode"] == "stream"), None)
            w = next((i for i in pts if i[key] == v and i["mode"] == "whole"), None)
            vs = s.get(ref_key) if s and ref_key else None
            shown = f"{v}x{v}" if sweep == "resolution" else v
            out.append(f"| {shown} | {_mb(s and s['peak_mb'])} | {_mb(s and s['working_mb'])} | "
                       f"{_mb(w and w['peak_mb'])} | {_mb(w and w['working_mb'])} | "
                       f"{_x(w.get('whole_over_stream') if w else None)} | {_x(vs)} |")
        out.append("")
        if sweep == "frames":
            stream = sorted((i for i in pts if i["mode"] == "stream"), key=lambda i: i["frames"])
            ref = next((i for i in stream if i["frames"] == 33), stream[0] if stream else None)
            if ref and stream and stream[-1]["frames"] > ref["frames"]:
                last = stream[-1]
                g = last["peak_mb"] / ref["peak_mb"]
                checks.add(f"streamed encode + decode peak memory {ref['frames']} -> "
                           f"{last['frames']} frames at {last['size']}x{last['size']}: {g:.2f}x "
                           f"({ref['peak_mb']:,.0f} -> {last['peak_mb']:,.0f} MiB; target <= "
                           f"{STREAM_MEMORY_TARGET}x)", g <= STREAM_MEMORY_TARGET)
    hires = [i for i in infos if i.get("sweep") == "hires"]
    if hires:
        out.append("High-resolution decode (2 latent frames, one at a time):\n")
        out.append("| size | frames | tile_size | peak | working | untiled / tiled | seconds |")
        out.append("|---|---|---|---|---|---|---|")
        for i in hires:
            out.append(f"| {i['size']}x{i['size']} | 5 | {i.get('tile_size') or 'none'} | "
                       f"{_mb(i['peak_mb'])} | {_mb(i['working_mb'])} | "
                       f"{_x(i.get('untiled_over_tiled'))} | {i['seconds']} |")
        out.append("")
    return out


# ---- peers (benchmarks/test_peers.py) -------------------------------------------------------

def _peer_tables(rows, checks: Checks, h: str = "###",
                 params: dict | None = None) -> list[str]:
    infos = [b["extra_info"] for b in rows]
    tput = [i for i in infos if "frames_per_s" in i]
    mem = [i for i in infos if i.get("table") == "memory"]
    out = [f"{h} Peers (`benchmarks/test_peers.py`)\n"]
    if tput:
        i0 = tput[0]
        presets = sorted({k[len("speedup_of_bootvid_"):] for i in tput for k in i
                          if k.startswith("speedup_of_bootvid_")},
                         key=lambda p: ["tiny", "small", "base"].index(p)
                         if p in ("tiny", "small", "base") else 9)
        out.append(f"diffusers {i0.get('diffusers', '')} VAEs from their default configs, random "
                   f"weights, on the same {i0['frames']}x{i0['size']} clip as bootvid's presets "
                   f"in the same run ({i0['dtype']}, {i0['device']}, {i0['threads']} threads). "
                   "Per frame = encode + decode median / frames; \"bootvid X faster\" = the "
                   "peer's time / bootvid's (kernels).\n")
        head = ["model", "params", "latent", "encode frames/s", "decode frames/s",
                "encode + decode per frame"] + [f"bootvid {p} faster" for p in presets]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        dec = {i["peer"]: i for i in tput if i["op"] == "decode"}
        encs = {i["peer"]: i for i in tput if i["op"] == "encode"}
        any_dec = next(iter(dec.values()), None)
        any_enc = next(iter(encs.values()), None)
        for p in presets:
            if any_dec and f"bootvid_{p}_recon_s_per_frame" in any_dec:
                e_s = any_enc.get(f"bootvid_{p}_s_per_frame") if any_enc else None
                d_s = any_dec.get(f"bootvid_{p}_s_per_frame")
                pm = (params or {}).get(p)
                out.append(f"| bootvid {p} (kernels) | {f'{pm}M' if pm else '–'} | – | "
                           f"{_fps(e_s and 1 / e_s)} | "
                           f"{_fps(d_s and 1 / d_s)} | "
                           f"{_ms(any_dec[f'bootvid_{p}_recon_s_per_frame'])} | "
                           + " | ".join("1.00x" if q == p else "–" for q in presets) + " |")
        for peer in dict.fromkeys(i["peer"] for i in tput):
            e, d = encs.get(peer), dec.get(peer)
            i = d or e
            cells = [i["model"], f"{i['params_M']}M", str(tuple(i["latent_shape"][1:])),
                     _fps(e and e["frames_per_s"]), _fps(d and d["frames_per_s"]),
                     _ms(d.get("recon_s_per_frame") if d else None)]
            cells += [_x(d.get(f"recon_speedup_of_bootvid_{p}") if d else None) for p in presets]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        wan = dec.get("wan")
        if wan:
            for p in presets:
                if p not in PEER_TARGET_PRESETS:
                    continue
                r = wan.get(f"recon_speedup_of_bootvid_{p}")
                if r is None:
                    continue
                checks.add(f"bootvid {p} encode + decode per frame "
                           f"{_ms(wan[f'bootvid_{p}_recon_s_per_frame'])} vs Wan VAE "
                           f"({wan['params_M']}M params) {_ms(wan['recon_s_per_frame'])}: "
                           f"bootvid {r:.2f}x as fast (target: no slower, >= 1.00x)", r >= 1.0)
    if mem:
        presets = sorted({k[len("peak_vs_bootvid_"):] for i in mem for k in i
                          if k.startswith("peak_vs_bootvid_")})
        i0 = mem[0]
        out.append(f"Peak memory of encoding + decoding the whole {i0['frames']}x{i0['size']}"
                   f"x{i0['size']} clip, each model in a fresh process ({i0['method']}); "
                   "working = peak - the process before the run:\n")
        head = ["model", "params", "peak", "working", "seconds"] + [
            f"peak / bootvid {p}" for p in presets]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for i in mem:
            out.append("| " + " | ".join(
                [i["model"], f"{i['params_M']}M", _mb(i["peak_mb"]), _mb(i["working_mb"]),
                 str(i["seconds"])] + [_x(i.get(f"peak_vs_bootvid_{p}")) for p in presets]) + " |")
        out.append("")
    return out


# ---- DiT (benchmarks/test_dit.py) and data ----------------------------------------------------

def _dit_table(rows, checks: Checks, h: str = "###") -> list[str]:
    e0 = rows[0]["extra_info"]
    out = [f"{h} DiT on 4x vs 16x latents (`benchmarks/test_dit.py`)\n",
           f"DiT preset {e0['preset']}, {e0['frames']} frames at {e0['size']}x{e0['size']} per "
           f"clip, batch {e0['batch']}, {e0['device']} {e0['dtype']}, {e0['threads']} threads. "
           "Video seconds per second: seconds of 24 fps video in a step's batch / median step "
           "time.\n",
           "| step | latent | DiT tokens | median | video s per s | 16x vs 4x |",
           "|---|---|---|---|---|---|"]
    for b in sorted(rows, key=lambda b: (b["extra_info"]["what"], b["extra_info"]["tc"])):
        e, med = b["extra_info"], _med(b)
        shape = "x".join(str(v) for v in e["latent_shape"])
        speed = e.get("speedup_vs_4x")
        out.append(f"| {e['what']} {e['tc']}x | {shape} | {e['tokens']} | {_ms(med)} | "
                   f"{e['video_seconds_per_step'] / med:.2f} | {_x(speed)} |")
        if speed is not None and e["what"] == "train_step":
            checks.add(f"DiT training steps per second of video, 16x vs 4x latents: "
                       f"{speed:.2f}x (target >= {DIT_TARGET:g}x)", speed >= DIT_TARGET)
    out.append("")
    return out


def _training_tables(rows, checks: Checks, h: str = "###") -> list[str]:
    by = {}
    for b in rows:
        e = b["extra_info"]
        by[(e["table"], e.get("preset"), e["dtype"])] = b
    out = [f"{h} Training step (`benchmarks/test_training.py`, `benchmarks/step_profile.py`)\n"]
    peaks = {d: by[("peak", None, d)]["extra_info"]["gflops_per_s"]
             for d in ("fp32", "bf16") if ("peak", None, d) in by}
    if peaks:
        e = next(b["extra_info"] for k, b in by.items() if k[0] == "peak")
        out.append("Conv peak (bootvid's causal_conv3d, 128 -> 128 channels, 3x3x3, fwd + bwd; "
                   "bf16 with its weight gradient in fp32, as in training; "
                   f"{'x'.join(map(str, e['shape']))}): "
                   + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in peaks.items())
                   + f"; native bf16 on this CPU: {e['native_bf16']}.\n")
    steps = [b for k, b in by.items() if k[0] == "step"]
    if steps:
        e0 = steps[0]["extra_info"]
        out += [f"One step: batch {e0['shape'][0]}, {e0['shape'][2]}x{e0['shape'][3]}x"
                f"{e0['shape'][4]} clips, L1 + KL, AdamW. FLOPs counted by FlopCounterMode on "
                "the reference ops; MFU = achieved FLOP/s over the peak of the same dtype.\n",
                "| preset | precision | params | GFLOP/step | median | clips/s | GFLOP/s | MFU "
                "| vs tiny fp32 |", "|---|---|---|---|---|---|---|---|---|"]
        for b in steps:
            e, med = b["extra_info"], _med(b)
            mfu = f"{100 * e['mfu']:.0f}%" if e.get("mfu") is not None else "n/a"
            out.append(f"| {e['preset']} | {e['dtype']} | {e['params_M']:.1f}M | "
                       f"{e['flops'] / 1e9:.0f} | {_ms(med)} | {e['clips_per_s']:.2f} | "
                       f"{e['gflops_per_s']:.0f} | {mfu} | {_x(e.get('speed_vs_tiny'))} |")
        out.append("")
        for b in steps:
            e = b["extra_info"]
            prof = e.get("profile") or {}
            if not prof:
                continue
            total = prof["total_s"] or 1.0
            kinds = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in
                              sorted(prof["by_kind"].items(), key=lambda kv: -kv[1]))
            levels = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in
                               sorted(prof["by_level"].items(), key=lambda kv: -kv[1]))
            out.append(f"- {e['preset']} {e['dtype']}, self time of one profiled step "
                       f"({_ms(prof['total_s'])}): by layer type {kinds}; by level (H x W of "
                       f"conv/norm/shuffle ops: forward input, backward output gradient) "
                       f"{levels}.")
        out.append("")
        # fast's best precision on this CPU against tiny in fp32
        fast = [b for b in steps if b["extra_info"]["preset"] == "fast"
                and b["extra_info"].get("speed_vs_tiny")]
        if fast:
            best = max(fast, key=lambda b: b["extra_info"]["speed_vs_tiny"])
            e = best["extra_info"]
            checks.add(f"fast training step ({e['dtype']}) {e['speed_vs_tiny']:.2f}x tiny's "
                       f"clips/s in fp32 (target >= {FAST_STEP_TARGET:g}x)",
                       e["speed_vs_tiny"] >= FAST_STEP_TARGET)
            if e.get("mfu") is not None:
                checks.add(f"fast training step ({e['dtype']}) at {100 * e['mfu']:.0f}% of the "
                           f"{e['dtype']} conv peak (target >= {100 * FAST_MFU_TARGET:.0f}%)",
                           e["mfu"] >= FAST_MFU_TARGET)
    codec = [b for k, b in by.items() if k[0] == "codec"]
    if codec:
        e0 = codec[0]["extra_info"]
        out.append(f"Encode + decode of {e0['shape'][2]}x{e0['shape'][3]}x{e0['shape'][4]} "
                   "(fp32): " + ", ".join(f"{b['extra_info']['preset']} "
                                          f"{1e3 * b['extra_info']['s_per_frame']:.1f} ms/frame"
                                          for b in codec) + ".\n")
        for b in codec:
            e = b["extra_info"]
            if e["preset"] == "fast" and e.get("speed_vs_tiny"):
                checks.add(f"fast encode + decode per frame {e['speed_vs_tiny']:.2f}x tiny's "
                           f"speed at {e['shape'][3]}x{e['shape'][4]} (target > 1x)",
                           e["speed_vs_tiny"] > 1.0)
    return out


def _data_lines(rows, h: str = "###", training=(), checks: Checks | None = None) -> list[str]:
    out = [f"{h} Data (`benchmarks/test_data.py`)\n"]
    # The fast preset's quickest step (any dtype) of the same run per clip shape: what the data
    # must keep up with.
    steps: dict[tuple, float] = {}
    for b in training:
        e = b["extra_info"]
        if e.get("table") == "step" and e.get("preset") == "fast":
            key = tuple(e["shape"][2:4])
            steps[key] = max(steps.get(key, 0.0), e["clips_per_s"])
    for b in rows:
        e = b["extra_info"]
        if e.get("dataset") != "StillMotionDataset":
            out.append(f"One synthetic training clip ({e['frames']}x{e['size']}): "
                       f"{_ms(_med(b))} median.\n")
            continue
        line = (f"One StillMotionDataset clip ({e['frames']}x{e['size']}, one thread, photos: "
                f"{e['photos']}): {_ms(_med(b))} median, {e['items_per_s']:.1f} items/s")
        side = e["shape"][2]
        need = steps.get((e["frames"], side))
        if need:
            line += (f"; the fast preset's training step uses {need:.2f} clips/s at this "
                     f"size: {e['items_per_s'] / need:.1f}x headroom for one worker")
            if checks is not None:
                checks.add(f"StillMotionDataset {e['frames']}x{e['size']} on one worker "
                           f"{e['items_per_s']:.1f} items/s >= the fast step's {need:.2f} "
                           "clips/s", e["items_per_s"] >= need)
        out.append(line + ".\n")
    return out


# ---- plots -----------------------------------------------------------------------------------

def _plots(rows, label: str, directory: str) -> list[str]:
    """PNG plots of one section; returns the markdown lines that show them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    os.makedirs(directory, exist_ok=True)
    files: list[tuple[str, str]] = []
    infos = [b["extra_info"] for b in rows]

    def save(fig, name, title):
        path = os.path.join(directory, f"{label}-{name}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append((title, path))

    tok = [i for i in infos if i.get("suite") == "tokenizer" and "frames_per_s" in i]
    peers = [i for i in infos if i.get("suite") == "peers" and "frames_per_s" in i]
    if tok or peers:
        panels = [p for p in ("presets", "growth") if any(i.get("table") == p for i in tok)]
        fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6.5 * max(1, len(panels)), 4.8),
                                 squeeze=False)
        for ax, panel in zip(axes[0], panels or ["presets"]):
            sel = [i for i in tok if i.get("table") == panel]
            models = list(dict.fromkeys(i["model"] for i in sel))
            ops = [o for o in ("encode", "decode", "train_step") if any(i["op"] == o for i in sel)]
            bars = [(m, o, b) for m in models for o in ops for b in ("kernels", "reference")]
            if panel == "presets":
                models += [i["model"] for i in peers if i["op"] == "encode"]
                bars += [(i["model"], i["op"], "peer") for i in peers]
            colors = {"encode": "tab:blue", "decode": "tab:orange", "train_step": "tab:green"}
            ylabels, y = [], 0
            for m in models:
                for o in ops:
                    for bk in ("kernels", "reference", "peer"):
                        i = next((i for i in sel + peers if i["model"] == m and i["op"] == o and
                                  (i.get("backend") == bk or (bk == "peer" and "peer" in i))),
                                 None)
                        if i is None:
                            continue
                        ax.barh(y, i["frames_per_s"], color=colors[o],
                                alpha=0.45 if bk == "reference" else 1.0,
                                hatch="//" if bk == "reference" else None)
                        ylabels.append(f"{m} {o} ({bk})")
                        y += 1
            ax.set_yticks(range(len(ylabels)), ylabels, fontsize=7)
            ax.invert_yaxis()
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("frames/s (log)")
            s0 = next((i for i in sel if i["op"] != "train_step"), None) or next(iter(peers),
                                                                                 None)
            t0 = next((i for i in sel if i["op"] == "train_step"), None)
            ax.set_title(f"{'4x presets and peers' if panel == 'presets' else 'growth family'}"
                         f" ({s0['frames']}x{s0['size']}"
                         + (f"; train_step {t0['frames']}x{t0['size']}" if t0 else "")
                         + f", {s0['device']})" if s0 else panel, fontsize=9)
            ax.grid(axis="x", alpha=0.3)
        save(fig, "throughput", "Throughput per model (hatched: reference ops)")

    mem = [i for i in infos if i.get("suite") == "memory"]
    for sweep, key, xlabel in (("frames", "frames", "frames"),
                               ("resolution", "size", "resolution (pixels a side)")):
        pts = [i for i in mem if i.get("sweep") == sweep]
        if not pts:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        for mode, style, color in (("stream", "o-", "tab:blue"), ("whole", "s--", "tab:red")):
            sel = sorted((i for i in pts if i["mode"] == mode), key=lambda i: i[key])
            if sel:
                ax.plot([i[key] for i in sel], [i["peak_mb"] for i in sel], style, color=color,
                        label=f"{mode}: peak")
                ax.plot([i[key] for i in sel], [i["working_mb"] for i in sel], style,
                        color=color, alpha=0.35, label=f"{mode}: working (peak - before)")
        ax.set_xscale("log", base=2)
        ticks = sorted({i[key] for i in pts})
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("MiB")
        fixed = (f"{pts[0]['size']}x{pts[0]['size']}" if sweep == "frames"
                 else f"{pts[0]['frames']} frames")
        ax.set_title(f"Peak memory vs {sweep}, {pts[0]['preset']} preset, {fixed}, "
                     f"{pts[0]['device']}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        save(fig, f"memory-{sweep}", f"Peak memory vs {sweep}")
    out = []
    for title, path in files:
        out.append(f"![{title}]({os.path.relpath(path)})\n")
    return out


# ---- a section: one run's rows on one device class --------------------------------------------

def _device_class(info: dict) -> str:
    return "GPU" if str(info.get("device", "cpu")).startswith("cuda") else "CPU"


def _meta_lines(data: dict, cls: str, rows) -> list[str]:
    mi, ci, bv = data.get("machine_info", {}), data.get("commit_info", {}), data.get("bootvid", {})
    cpu = mi.get("cpu", {})
    machine = [f"{cpu.get('brand_raw', mi.get('processor', '?'))}",
               f"{mi.get('cpu_count', cpu.get('count', '?'))} cores",
               f"{mi['memory_gib']} GiB RAM" if "memory_gib" in mi else None,
               f"torch {mi['torch']}" if "torch" in mi else None,
               f"{mi['torch_threads']} torch threads" if "torch_threads" in mi else None,
               f"Python {mi.get('python_version', '?')}",
               f"kernels ISA {mi['bootvid_cpu_isa']}" if mi.get("bootvid_cpu_isa") else None]
    if cls == "GPU" and mi.get("cuda_device"):
        machine.insert(0, f"{mi['cuda_device']} ({mi.get('cuda_memory_gib')} GiB, CUDA "
                          f"{mi.get('cuda_version')})")
    commit = ci.get("id", "?")[:10] + (" (with uncommitted changes)" if ci.get("dirty") else "")
    quick = bv.get("mode") == "quick" or any(b["extra_info"].get("quick") for b in rows)
    quick_text = "quick (small shapes: a smoke test; the targets apply to the full shapes)"
    default_cmd = "python -m pytest benchmarks --benchmark-json=RUN.json"
    out = [f"- **Machine:** {', '.join(m for m in machine if m)}.",
           f"- **Commit:** {commit}{', branch ' + ci['branch'] if ci.get('branch') else ''}.",
           f"- **Measured:** {bv.get('started') or data.get('datetime', '?')}"
           + (f", the whole run took {bv['duration_s'] / 60:.1f} min" if "duration_s" in bv
              else "")
           + (f"; load average {bv['loadavg_start'][0]} at the start, {bv['loadavg_end'][0]} "
              f"at the end (1 min; more than this run's own threads means another workload)"
              if bv.get("loadavg_start") and bv.get("loadavg_end") else "") + ".",
           f"- **Command:** `{bv.get('command', default_cmd)}`"
           f" (pytest-benchmark {data.get('version', '?')}"
           + (f", diffusers {bv['diffusers']}" if bv.get("diffusers") else
              ", diffusers not installed: no peers") + ").",
           f"- **Mode:** {quick_text if quick else 'full'}."]
    return out + [""]


def build_section(data: dict, rows, cls: str, title: str, plots: str | None,
                  h: str = "###") -> tuple[list[str], Checks]:
    checks = Checks()
    out = [f"## {title}\n"]
    out += _meta_lines(data, cls, rows)

    def suite(b):
        e = b.get("extra_info", {})
        if e.get("suite"):
            return e["suite"]
        name = b.get("fullname", "")
        return next((s for s in ("tokenizer", "memory", "peers", "dit", "data", "training",
                                 "ops")
                     if f"test_{s}" in name), "other")

    groups: dict[str, list] = {}
    for b in rows:
        groups.setdefault(suite(b), []).append(b)
    if "ops" in groups:
        out += _ops_tables(groups.pop("ops"), data, checks, h)
    if "tokenizer" in groups:
        out += _tokenizer_tables(groups.pop("tokenizer"), checks, cls, h)
    if "memory" in groups:
        out += _memory_tables(groups.pop("memory"), checks, h)
    if "peers" in groups:
        params = {b["extra_info"]["model"]: b["extra_info"]["params_M"] for b in rows
                  if b.get("extra_info", {}).get("table") == "presets"}
        out += _peer_tables(groups.pop("peers"), checks, h, params)
    if "dit" in groups:
        out += _dit_table(groups.pop("dit"), checks, h)
    if "data" in groups:
        out += _data_lines(groups.pop("data"), h, groups.get("training", ()), checks)
    if "training" in groups:
        out += _training_tables(groups.pop("training"), checks, h)
    others = [b for g in groups.values() for b in g]
    if others:
        out.append(f"{h} Other benchmarks\n")
        out.append("| group | name | median | extra_info |")
        out.append("|---|---|---|---|")
        for b in others:
            info = ", ".join(f"{k}={v}" for k, v in b.get("extra_info", {}).items()
                             if not isinstance(v, (list, dict)))
            out.append(f"| {b.get('group') or ''} | {b['name']} | {_ms(_med(b))} | "
                       f"{info[:200]} |")
        out.append("")
    if plots:
        label = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
        lines = _plots(rows, label, plots)
        if lines:
            out.append(f"{h} Plots\n")
            out += lines
    if checks:
        out.append(f"{h} Targets ({title})\n")
        for text, ok in checks:
            out.append(f"- {'PASS' if ok else 'FAIL'}: {text}")
        out.append(f"\n{sum(ok for _, ok in checks)} of {len(checks)} targets met.\n")
    return out, checks


def build_all(datas: list[dict], plots: str | None = None, history: str | None = None,
              notes: str | None = None) -> tuple[str, list[tuple[str, bool]]]:
    sections = []
    seen: dict[str, int] = {}
    for data in datas:
        rows = data.get("benchmarks", [])
        for cls in ("CPU", "GPU"):
            sel = [b for b in rows if _device_class(b.get("extra_info", {})) == cls]
            if not sel:
                continue
            seen[cls] = seen.get(cls, 0) + 1
            title = cls if seen[cls] == 1 else f"{cls} (run {seen[cls]})"
            sections.append((title, build_section(data, sel, cls, title, plots)))
    out = ["# bootvid benchmarks\n",
           "Generated by `python -m benchmarks.report` from the pytest-benchmark JSON of the runs "
           "below: do not edit by hand, regenerate. Only measured numbers; every ratio is "
           "between two measurements of the same run.\n",
           "**Regenerate** (this file and the plots in docs/benchmarks/, on the development "
           "machine, CPU): `make bench`. It runs `python -m pytest benchmarks -q "
           "--benchmark-json=.benchmarks-run.json`, keeps the JSON as "
           "docs/benchmarks/cpu-run.json, then runs `python -m benchmarks.report "
           "docs/benchmarks/cpu-run.json [docs/benchmarks/gpu-run.json] --plots docs/benchmarks "
           "> BENCHMARKS.md` (the report alone rebuilds this file from the kept JSON). On a GPU "
           "machine, `bash scripts/gpu_check.sh OUT` runs every suite on CUDA "
           "(`BOOTVID_BENCH_DEVICE=cuda`: bf16, tokenizer-sized shapes); copy its "
           "`OUT/bench_gpu.json` to docs/benchmarks/gpu-run.json and the report adds the GPU "
           "section. `make bench-quick` (CI, `BOOTVID_BENCH_QUICK=1`) runs every suite on small "
           "shapes as a smoke test. The peers need `pip install diffusers` (optional: skipped "
           "without it); `BOOTVID_BENCH_PEER_MEMORY=1` adds their peak-memory runs.\n"]
    all_checks: list[tuple[str, bool]] = []
    if sections:
        out.append("## Targets, all runs\n")
        out.append("| run | target | result |")
        out.append("|---|---|---|")
        for title, (_, checks) in sections:
            for text, ok in checks:
                out.append(f"| {title} | {text} | {'PASS' if ok else '**FAIL**'} |")
                all_checks.append((f"{title}: {text}", ok))
        n_ok = sum(ok for _, ok in all_checks)
        out.append(f"\n{n_ok} of {len(all_checks)} targets met.\n")
    if notes and os.path.exists(notes):
        with open(notes) as f:
            out.append(f.read().rstrip() + "\n")
    for _, (lines, _) in sections:
        out += lines
    if history and os.path.exists(history):
        with open(history) as f:
            out.append(f.read().rstrip() + "\n")
    return "\n".join(out), all_checks


def build(data: dict) -> tuple[str, list[tuple[str, bool]]]:
    """One run's report, without plots or history (the former single-file entry point)."""
    return build_all([data])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="BENCHMARKS.md from --benchmark-json files.")
    ap.add_argument("json", nargs="+", help="files written by pytest --benchmark-json (one run "
                                            "each, e.g. a CPU run and a GPU run)")
    ap.add_argument("--plots", metavar="DIR", help="write PNG plots under DIR and link them")
    ap.add_argument("--history", default=_HISTORY if os.path.exists(_HISTORY) else None,
                    help="markdown of earlier measurements appended verbatim "
                         "(default: benchmarks/history.md)")
    ap.add_argument("--no-history", action="store_true", help="leave the history out")
    ap.add_argument("--notes", default=_NOTES if os.path.exists(_NOTES) else None,
                    help="hand-written markdown on reading the figures, inserted after the "
                         "targets summary (default: benchmarks/notes.md)")
    ap.add_argument("--no-notes", action="store_true", help="leave the notes out")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args(argv)
    datas = []
    for path in a.json:
        with open(path) as f:
            datas.append(json.load(f))
    text, checks = build_all(datas, plots=a.plots, history=None if a.no_history else a.history,
                             notes=None if a.no_notes else a.notes)
    print(text)
    if a.strict and not all(ok for _, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
