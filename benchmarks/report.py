"""Markdown tables of a pytest-benchmark JSON file of benchmarks/test_ops.py, with the targets.

    python -m benchmarks.report RUN.json [--strict] > table.md

Per op and pass (fwd, fwd+bwd): the medians of bootvid's kernel, the eager composite, the
compiled composite; the speed-ups composite / kernel; the kernel's bandwidth (bytes_moved /
median) and its fraction of a plain copy's bandwidth measured in the same run; pass / fail
against the target. causal_conv3d also gets its peak memory against F.pad + conv3d. Other
benchmarks in the file (the tokenizer's) are listed after, with their medians.
``--strict``: exit 1 when a target is missed (default: always 0, the table says it).
"""

from __future__ import annotations

import argparse
import json
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


def _ms(s):
    return "–" if s is None else f"{s * 1e3:.2f} ms"


def _x(r):
    return "–" if r is None else f"{r:.2f}x"


def _mib(b):
    return f"{b / 2**20:.1f} MiB"


def build(data: dict) -> tuple[str, list[tuple[str, bool]]]:
    rows = data.get("benchmarks", [])
    ops_rows = [b for b in rows if b.get("extra_info", {}).get("suite") == "ops"]
    others = [b for b in rows if b.get("extra_info", {}).get("suite") != "ops"]
    out: list[str] = []
    checks: list[tuple[str, bool]] = []

    def med(op, pass_, variant):
        for b in ops_rows:
            e = b["extra_info"]
            if (e.get("op"), e.get("pass"), e.get("variant")) == (op, pass_, variant):
                return b["stats"]["median"], e
        return None, None

    out.append("# bootvid op benchmarks\n")
    if ops_rows:
        e0 = ops_rows[0]["extra_info"]
        mi = data.get("machine_info", {})
        cpu = mi.get("cpu", {}).get("brand_raw", mi.get("processor", "?"))
        out.append(f"shape (B, C, T, H, W) = {tuple(e0['shape'])}, dtype {e0['dtype']}, device "
                   f"{e0['device']}, {e0['threads']} threads, CPU: {cpu}"
                   f"{' (quick mode)' if e0.get('quick') else ''}. Medians of each benchmark; "
                   "speed-up = composite median / kernel median.\n")
        if e0.get("quick"):
            out.append("Quick mode: the shapes are small (they may fit in cache, and fixed "
                       "per-call costs weigh more), so these figures only smoke-test the suite; "
                       "the targets apply to the full shapes.\n")
    copy_t, copy_e = med("copy", "fwd", "copy")
    clone_t, clone_e = med("copy", "fwd", "clone")
    copy_bw = copy_e["gbps"] if copy_e else None
    clone_bw = clone_e["gbps"] if clone_e else None
    if copy_e:
        out.append(f"Plain copy of one video ({_mib(copy_e['bytes_moved'] / 2)} read + written) "
                   f"into a reused buffer (`dst.copy_(src)`): {_ms(copy_t)}, {copy_bw:.1f} GB/s.\n")
    if clone_e:
        out.append(f"The same copy into fresh memory (`src.clone()`, what an op that returns a new "
                   f"tensor pays): {_ms(clone_t)}, {clone_bw:.1f} GB/s. Goal for the memory-bound "
                   "ops: >= 60% of this bandwidth.\n")

    for op in OPS:
        if med(op, "fwd", "kernel")[0] is None and med(op, "fwd+bwd", "kernel")[0] is None:
            continue
        target = TARGETS[op]
        out.append(f"## {op}\n")
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
                checks.append((f"{op} {pass_}: {se:.2f}x eager (target {target}x)", ok))
            cells.append("PASS" if ok else ("FAIL" if se is not None else "–"))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        if op == "causal_conv3d":
            mem = [b["extra_info"] for b in ops_rows if b["extra_info"].get("op") == op
                   and b["extra_info"].get("variant") == "peak_memory"]
            if mem:
                out.append("Peak memory of one call (child process; "
                           f"{mem[0].get('method', '')}), over the inputs already allocated:\n")
                out.append("| pass | kernel | F.pad + conv3d | eager / kernel | target (lower) |")
                out.append("|---|---|---|---|---|")
                for m in mem:
                    ok = m["peak_bytes_kernel"] < m["peak_bytes_eager"]
                    checks.append((f"{op} {m['pass']} peak memory: {_mib(m['peak_bytes_kernel'])} "
                                   f"vs {_mib(m['peak_bytes_eager'])}", ok))
                    out.append(f"| {m['pass']} | {_mib(m['peak_bytes_kernel'])} | "
                               f"{_mib(m['peak_bytes_eager'])} | "
                               f"{m['peak_ratio_eager_over_kernel']:.2f}x | "
                               f"{'PASS' if ok else 'FAIL'} |")
                out.append("")

    # The suites' tables add their targets to checks: build them before the summary.
    tok_rows = [b for b in others if "test_tokenizer" in b.get("fullname", "")]
    growth_rows = [b for b in others if b.get("extra_info", {}).get("suite") == "growth"]
    others = [b for b in others if b not in tok_rows and b not in growth_rows]
    if tok_rows:
        out.extend(_tokenizer_tables(tok_rows, checks))
    if growth_rows:
        out.extend(_growth_table(growth_rows))

    if checks:
        out.append("## Targets\n")
        for text, ok in checks:
            out.append(f"- {'PASS' if ok else 'FAIL'}: {text}")
        n_ok = sum(ok for _, ok in checks)
        out.append(f"\n{n_ok} of {len(checks)} targets met.\n")

    if others:
        out.append("## Other benchmarks\n")
        out.append("| group | name | median | extra_info |")
        out.append("|---|---|---|---|")
        for b in others:
            info = ", ".join(f"{k}={v}" for k, v in b.get("extra_info", {}).items()
                             if not isinstance(v, (list, dict)))
            out.append(f"| {b.get('group') or ''} | {b['name']} | {_ms(b['stats']['median'])} | "
                       f"{info[:200]} |")
        out.append("")
    return "\n".join(out), checks


def _rss_growth(info: dict):
    """The peak-RSS growth a memory row records against the shortest length (None if absent)."""
    return next((v for k, v in info.items() if k.startswith("rss_growth_vs_")), None)


def _tokenizer_tables(rows, checks) -> list[str]:
    """The tokenizer suite (benchmarks/test_tokenizer.py): throughput with kernels vs reference
    ops and the peers, chunked peak memory vs length, high-resolution decode, tiling seams."""
    out = ["## Tokenizer\n"]
    infos = [b.get("extra_info", {}) for b in rows]
    tput = {(i["preset"], i["op"], i["backend"]): i for i in infos
            if "backend" in i and "frames_per_s" in i}
    if tput:
        any_i = next(iter(tput.values()))
        out.append(f"Throughput on a {any_i['frames']}x{any_i['size']} clip (batch 1, fp32, "
                   f"{any_i['threads']} threads, best of the rounds), frames/s:\n")
        out.append("| preset | params | op | kernels | reference ops | speed-up | target (>= 1.15x) |")
        out.append("|---|---|---|---|---|---|---|")
        for (preset, op, backend), i in tput.items():
            if backend != "kernels":
                continue
            ref = tput.get((preset, op, "reference"))
            sp = i.get("speedup_vs_reference")
            ok = sp is not None and sp >= 1.15
            checks.append((f"tokenizer {preset} {op}: {sp:.2f}x reference ops (target 1.15x)", ok))
            out.append(f"| {preset} | {i['params_M']}M | {op} | {i['frames_per_s']:.2f} | "
                       f"{ref['frames_per_s'] if ref else '–'} | {sp:.2f}x | "
                       f"{'PASS' if ok else 'FAIL'} |")
        out.append("")
    peers = [i for i in infos if "model" in i and "frames_per_s" in i]
    if peers:
        out.append("Peers (diffusers, default configs, random weights, same clip and run), frames/s:\n")
        out.append("| model | params | op | frames/s | latent shape |")
        out.append("|---|---|---|---|---|")
        for i in peers:
            out.append(f"| {i['model']} | {i['params_M']}M | {i['op']} | {i['frames_per_s']:.2f} | "
                       f"{tuple(i.get('latent_shape', ()))} |")
        out.append("")
    mem = [i for i in infos if i.get("mode") in ("stream", "tensor", "whole") and "peak_rss_mb" in i]
    if mem:
        out.append("Peak RSS of chunked encode + decode (child process, VmHWM), chunks of "
                   f"{mem[0].get('chunk_frames')} frames:\n")
        out.append("| model | mode | frames | size | peak RSS | model RSS | growth vs shortest | "
                   "seconds |")
        out.append("|---|---|---|---|---|---|---|---|")
        for i in mem:
            g = _rss_growth(i)
            out.append(f"| {i['model']} | {i['mode']} | {i['frames']} | {i['size']} | "
                       f"{i['peak_rss_mb']} MiB | {i['model_rss_mb']} MiB | "
                       f"{'–' if g is None else f'{g:+.1%}'} | {i['seconds']} |")
        stream = [i for i in mem if i["model"] == "bootvid" and i["mode"] == "stream"]
        if len(stream) > 1:
            g = max(_rss_growth(i) or 0 for i in stream)
            checks.append((f"tokenizer streamed peak RSS growth {stream[0]['frames']} -> "
                           f"{stream[-1]['frames']} frames: {g:+.1%} (target <= 20%)", g <= 0.2))
        out.append("")
    hires = [i for i in infos if "tile_size" in i and "peak_rss_mb" in i]
    if hires:
        out.append("High-resolution decode (one latent frame at a time):\n")
        out.append("| preset | size | frames | tile_size | peak RSS | seconds |")
        out.append("|---|---|---|---|---|---|")
        for i in hires:
            out.append(f"| {i['preset']} | {i['size']} | {i['frames']} | {i['tile_size']} | "
                       f"{i['peak_rss_mb']} MiB | {i['seconds']} |")
        out.append("")
    seams = [i for i in infos if "decode_max_abs_err" in i]
    for i in seams:
        out.append(f"Tiling seam error ({i['preset']}, {i['frames']}x{i['size']}, tile "
                   f"{i['tile_size']}): encode max |tiled - untiled| "
                   f"{i['encode_max_abs_err']:.1e}, decode {i['decode_max_abs_err']:.1e} "
                   f"(mean {i['decode_mean_abs_err']:.1e}; the decoded signal's std is "
                   f"{i['decode_signal_std']:.2f}).\n")
    return out


def _growth_table(rows) -> list[str]:
    """benchmarks/test_growth.py: 4x, grown 8x/16x and direct 8x/16x, one preset and clip."""
    infos = {(i["model"], i["op"]): i for i in (b["extra_info"] for b in rows)}
    any_i = next(iter(infos.values()))
    out = ["## Growth\n",
           f"Preset {any_i['preset']!r}, a {any_i['frames']}x{any_i['size']} clip, fp32, "
           f"{any_i['threads']} threads, best of the rounds. Latent tokens: T' x H' x W' of the "
           "clip, and per second of 24 fps video.\n",
           "| model | tc | params (trainable) | encode frames/s | decode frames/s | latent | "
           "tokens | tokens per video second |",
           "|---|---|---|---|---|---|---|---|"]
    for model in dict.fromkeys(m for m, _ in infos):
        e, d = infos.get((model, "encode")), infos.get((model, "decode"))
        i = e or d
        out.append(f"| {model} | {i['tc']}x | {i['params_M']}M ({i['trainable_M']}M) | "
                   f"{e['frames_per_s'] if e else '–'} | {d['frames_per_s'] if d else '–'} | "
                   f"{tuple(i['latent_shape'][2:])} | {i['latent_tokens']} | "
                   f"{i['latent_tokens_per_video_s']} |")
    out.append("")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Markdown tables of a --benchmark-json file.")
    ap.add_argument("json", help="the file written by pytest --benchmark-json")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args(argv)
    with open(a.json) as f:
        data = json.load(f)
    text, checks = build(data)
    print(text)
    if a.strict and not all(ok for _, ok in checks):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
