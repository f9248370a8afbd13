#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: times the reference ResNet + CBAM network.

    python3 bench/torch_speed.py [--reference PATH] [--variants none,paper] [--batch 16] [--steps 3]
                                 [--warmup 1] [--threads 2] [--modes train,forward] [--device cpu|cuda]
    python3 bench/torch_speed.py --serve

With --serve it reads one JSON request per line on stdin, {"depth": 10, "width": 16, "placement":
"paper", "batch": 64, "mode": "train", "steps": 3, "warmup": 1, "threads": 1}, and answers one JSON
line {"ok": true, "imgPerSec": ..., "msPerStep": ..., "cpuMsPerStep": ...}: bench/run.ts keeps it
running and alternates it with fer-cbam's worker, measurement by measurement. Networks are built once
per (depth, width, placement) and reused; the thread count is set per request.

The reference file (../shared/reference/resnet_cbam_reference.py) trains at import time, so it is not
imported: its imports and class definitions are taken out with `ast` and executed alone. Prints one JSON
line per measurement: {"backend": "pytorch", "model": "resnet18-paper", "batch": 16, "mode": "train",
"imgPerSec": 27.1, "msPerStep": 590.0, "cpuMsPerStep": 1170.0, "steps": 3, "threads": 2, "torch": "1.13.1", "device": "cpu"}.
Training steps are SGD with momentum 0.9 on cross-entropy (model.train()); forward is model.eval() under
torch.no_grad(). Inputs are float32 [batch, 1, 44, 44], 7 classes, as in the tfjs benchmark; on CUDA with
cuDNN autotuning and channels-last layout, as the reference's training run does.
"""
import argparse
import ast
import json
import os
import time


def load_reference(path):
    """Executes only the imports and class definitions of the reference file; returns its namespace."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    keep = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.ClassDef))]
    namespace = {"__name__": "resnet_cbam_reference"}
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), namespace)  # noqa: S102
    return namespace


# Residual blocks per stage of the basic-block ResNets the reference builds.
BLOCKS = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


def time_steps(torch, step, steps, warmup, sync):
    """Mean wall and process-CPU seconds per step after `warmup` untimed steps."""
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(steps):
        step()
    sync()
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def make_steps(torch, F, model, x, y):
    """The training step (SGD, momentum 0.9, cross-entropy, model.train()) and the forward pass."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def train():
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    def forward():
        model.eval()
        with torch.no_grad():
            return model(x).sum().item()

    return {"train": train, "forward": forward}


def serve(ns):
    """The --serve loop: one request per stdin line, one JSON answer per stdout line."""
    import sys
    torch = ns["torch"]
    F = ns["F"]
    cache = {}
    print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            depth, width, placement = int(r["depth"]), int(r["width"]), r["placement"]
            if depth not in BLOCKS:
                raise ValueError(f"the reference builds basic-block ResNets only (depth {sorted(BLOCKS)}), not {depth}")
            variant = {"everyBlock": "every"}.get(placement, placement)
            torch.set_num_threads(int(r["threads"]))
            batch = int(r["batch"])
            key = (depth, width, variant, batch)
            if key not in cache:
                torch.manual_seed(0)
                model = ns["ResNetCBAM"](variant, blocks=BLOCKS[depth], width=width)
                x = torch.randn(batch, 1, 44, 44)
                y = torch.arange(batch) % 7
                cache[key] = make_steps(torch, F, model, x, y)
            seconds, cpu = time_steps(torch, cache[key][r["mode"]], int(r["steps"]), int(r.get("warmup", 1)), lambda: None)
            print(json.dumps({
                "ok": True, "imgPerSec": batch / seconds, "msPerStep": seconds * 1000,
                "cpuMsPerStep": cpu * 1000, "threads": torch.get_num_threads(),
            }), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is answered, the loop goes on
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}"}), flush=True)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_ref = os.path.normpath(os.path.join(here, "..", "..", "shared", "reference", "resnet_cbam_reference.py"))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reference", default=default_ref)
    p.add_argument("--variants", default="none,paper")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default="train,forward")
    p.add_argument("--device", default="cpu")
    p.add_argument("--serve", action="store_true")
    args = p.parse_args()

    ns = load_reference(args.reference)
    if args.serve:
        serve(ns)
        return
    torch = ns["torch"]
    F = ns["F"]
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    x = torch.randn(args.batch, 1, 44, 44, device=device)
    if device.type == "cuda":
        # As the reference's own training run: cuDNN autotuning and channels-last memory layout.
        torch.backends.cudnn.benchmark = True
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(args.batch, device=device) % 7

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for variant in args.variants.split(","):
        # The reference calls CBAM-in-every-block 'every'; fer-cbam calls it 'everyBlock'.
        ref_variant = "every" if variant == "everyBlock" else variant
        model = ns["ResNetCBAM"](ref_variant).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for mode in args.modes.split(","):
            if mode == "train":
                model.train()

                def step():
                    opt.zero_grad(set_to_none=True)
                    loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()
                    return loss.item()
            else:
                model.eval()

                def step():
                    with torch.no_grad():
                        return model(x).sum().item()

            for _ in range(args.warmup):
                step()
            sync()
            t0 = time.perf_counter()
            c0 = time.process_time()
            for _ in range(args.steps):
                step()
            sync()
            seconds = (time.perf_counter() - t0) / args.steps
            cpu_seconds = (time.process_time() - c0) / args.steps
            print(json.dumps({
                "backend": "pytorch", "model": f"resnet18-{variant}", "batch": args.batch, "mode": mode,
                "imgPerSec": round(args.batch / seconds, 2), "msPerStep": round(seconds * 1000, 1),
                "cpuMsPerStep": round(cpu_seconds * 1000, 1),
                "steps": args.steps, "threads": torch.get_num_threads() if device.type == "cpu" else None,
                "torch": torch.__version__, "device": device.type,
            }), flush=True)


if __name__ == "__main__":
    main()
