#!/usr/bin/env python3
"""PyTorch timings of the op cases that bench/op_timings.ts lists (its --plan file), on one GPU.

  python3 bench/torch_ops.py PLAN.json OUT.json

Each case runs the equivalent PyTorch op in bf16 (the loss and AdamW in float32, as in our step):
F.linear (+ F.gelu), the MLP with its residual (x + fc2(gelu(fc1(x)))), F.layer_norm, F.gelu, F.scaled_dot_product_attention on [N, H, L, d],
the dense depthwise 5x5 F.conv2d over the whole canvas as the official code runs it (both NCHW and
channels_last; the faster of the two is the reference), the norm-pix masked MSE as the official
loss computes it, and torch.optim.AdamW(fused=True). Times are on the device's clock, measured as
bench/op_timings.ts measures ours: after warm-up, the stream is held by torch.cuda._sleep while 10
calls are queued, and two CUDA events bracket them, so the kernels run back to back and the host's
launch gaps are left out (the median of 5 such runs, per call); random inputs (never zeros).
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def sleep_cycles_per_ms():
    """GPU clock cycles of torch.cuda._sleep per millisecond, measured once (the clock varies)."""
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    torch.cuda._sleep(10_000_000)
    b.record()
    b.synchronize()
    return 10_000_000 / a.elapsed_time(b)


CYCLES_PER_MS = None


def median_ms(fn, reps=10, runs=5, warmup=3):
    """Milliseconds per call of fn on the device's clock (see the top of this file)."""
    global CYCLES_PER_MS
    if CYCLES_PER_MS is None:
        CYCLES_PER_MS = sleep_cycles_per_ms()
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    torch.cuda.synchronize()
    hold_ms = 1.5 * (time.perf_counter() - t0) * 1e3 + 2
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda._sleep(int(hold_ms * CYCLES_PER_MS))
        a.record()
        for _ in range(reps):
            fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) / reps)
    times.sort()
    return times[len(times) // 2]


def rand(*shape, dtype=torch.bfloat16, grad=True):
    return (torch.rand(*shape, device="cuda", dtype=torch.float32) * 2 - 1).to(dtype).requires_grad_(grad)


def fwd_and_bwd(f, inputs, cot):
    def fwd():
        with torch.no_grad():
            f()

    def fwd_bwd():
        for t in inputs:
            t.grad = None
        f().backward(cot)

    return median_ms(fwd), median_ms(fwd_bwd)


def time_case(c):
    k = c["kind"]
    if k == "gemm":
        x, w, b = rand(c["m"], c["k"]), rand(c["n"], c["k"]), rand(c["n"])
        cot = rand(c["m"], c["n"], grad=False)
        f = (lambda: F.gelu(F.linear(x, w, b))) if c["gelu"] else (lambda: F.linear(x, w, b))
        return fwd_and_bwd(f, [x, w, b], cot), None
    if k == "mlp":
        m, d, hid = c["m"], c["d"], c["hidden"]
        x, w1, b1, w2, b2, r = rand(m, d), rand(hid, d), rand(hid), rand(d, hid), rand(d), rand(m, d)
        f = lambda: r + F.linear(F.gelu(F.linear(x, w1, b1)), w2, b2)
        return fwd_and_bwd(f, [x, w1, b1, w2, b2, r], rand(m, d, grad=False)), None
    if k == "layernorm":
        x, w, b = rand(c["rows"], c["c"]), rand(c["c"]), rand(c["c"])
        return fwd_and_bwd(lambda: F.layer_norm(x, (c["c"],), w, b, 1e-6), [x, w, b], rand(c["rows"], c["c"], grad=False)), None
    if k == "gelu":
        x = rand(c["numel"])
        return fwd_and_bwd(lambda: F.gelu(x), [x], rand(c["numel"], grad=False)), None
    if k == "attention":
        n, l, h, d = c["n"], c["l"], c["h"], c["d"]
        q, kk, v = rand(n, h, l, d), rand(n, h, l, d), rand(n, h, l, d)
        return fwd_and_bwd(lambda: F.scaled_dot_product_attention(q, kk, v), [q, kk, v], rand(n, h, l, d, grad=False)), None
    if k == "dwconv":
        side = c["g"] * c["t"]
        best, note = None, None
        for fmt in (torch.contiguous_format, torch.channels_last):
            x = rand(c["n"], c["c"], side, side).detach().to(memory_format=fmt).requires_grad_(True)
            w, b = rand(c["c"], 1, 5, 5), rand(c["c"])
            cot = rand(c["n"], c["c"], side, side, grad=False).to(memory_format=fmt)
            r = fwd_and_bwd(lambda: F.conv2d(x, w, b, padding=2, groups=c["c"]), [x, w, b], cot)
            name = "NCHW" if fmt == torch.contiguous_format else "NHWC"
            note = (note + ", " if note else "") + f"{name} fwd {r[0]:.3f} f+b {r[1]:.3f} ms"
            best = r if best is None else (min(best[0], r[0]), min(best[1], r[1]))
            del x, w, b, cot
        return best, "dense over the whole canvas; " + note
    if k == "loss":
        n, t, d = c["n"], c["tokens"], c["dim"]
        pred, target = rand(n, t, d, dtype=torch.float32), rand(n, t, d, dtype=torch.float32, grad=False)
        mask = (torch.arange(n * t, device="cuda") % 4 != 0).float().view(n, t)

        def loss():
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            tn = (target - mean) / (var + 1.0e-6) ** 0.5
            l = ((pred - tn) ** 2).mean(dim=-1)
            return (l * mask).sum() / mask.sum()

        return fwd_and_bwd(loss, [pred], torch.ones((), device="cuda")), None
    if k == "adamw":
        params = [torch.nn.Parameter(rand(*s, dtype=torch.float32, grad=False)) for s in c["shapes"]]
        for p in params:
            p.grad = torch.rand_like(p)
        opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, fused=True)
        return (median_ms(opt.step), None), "fused=True"
    raise ValueError(k)


def main():
    plan = json.load(open(sys.argv[1]))
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "batch": plan["batch"], "cases": {}}
    for c in plan["cases"]:
        try:
            (fwd, fwd_bwd), note = time_case(c)
            out["cases"][c["name"]] = {"fwd": fwd / 1e3, "fwd_bwd": None if fwd_bwd is None else fwd_bwd / 1e3, "note": note}
            print(f"torch {c['name']}: fwd {fwd:.3f} ms" + ("" if fwd_bwd is None else f", f+b {fwd_bwd:.3f} ms") + (f" ({note})" if note else ""), flush=True)
        except Exception as e:  # a case that fails (memory, an op missing) is reported, not fatal
            print(f"torch {c['name']}: failed: {e}", flush=True)
        torch.cuda.empty_cache()
    json.dump(out, open(sys.argv[2], "w"), indent=1)


if __name__ == "__main__":
    main()
