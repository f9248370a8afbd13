"""Generates test/fixtures/train/torch_sgd_schedules.json: reference values from PyTorch for
fer-cbam's SGD (momentum, weight decay, Nesterov) and its cosine / one-cycle schedules.

Run with Debian's python3-torch:  /usr/bin/python3 scripts/make_train_fixtures.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
out = {"torch": torch.__version__}

# --- SGD: fixed initial weights and gradients, three steps with changing learning rates. ---
w0 = [torch.randn(3, 2, dtype=torch.float64), torch.randn(2, dtype=torch.float64)]
grads = [[torch.randn_like(w) for w in w0] for _ in range(3)]
lrs = [0.1, 0.05, 0.01]
cases = []
for momentum, wd, nesterov in [(0.9, 5e-4, False), (0.9, 1e-2, True), (0.0, 0.1, False), (0.5, 0.0, False)]:
    params = [torch.nn.Parameter(w.clone()) for w in w0]
    opt = torch.optim.SGD(params, lr=lrs[0], momentum=momentum, weight_decay=wd, nesterov=nesterov)
    after = []
    for step, g in enumerate(grads):
        for group in opt.param_groups:
            group["lr"] = lrs[step]
        for p, gi in zip(params, g):
            p.grad = gi.clone()
        opt.step()
        after.append([p.detach().flatten().tolist() for p in params])
    cases.append({"momentum": momentum, "weightDecay": wd, "nesterov": nesterov, "after": after})
out["sgd"] = {
    "initial": [w.flatten().tolist() for w in w0],
    "shapes": [list(w.shape) for w in w0],
    "gradients": [[g.flatten().tolist() for g in step] for step in grads],
    "learningRates": lrs,
    "cases": cases,
}


def record(make_sched, base_lr, steps):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_sched(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


# --- Schedules, stepped once per batch: 7 epochs x 13 steps. ---
epochs, steps_per_epoch = 7, 13
total = epochs * steps_per_epoch
out["schedules"] = {
    "epochs": epochs,
    "stepsPerEpoch": steps_per_epoch,
    "onecycleReference": {
        "options": {"maxLearningRate": 0.05, "pctStart": 0.15},
        "lrs": record(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.05, total_steps=total, pct_start=0.15), 0.05, total),
    },
    "onecycleDefault": {
        "options": {},
        "lrs": record(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.05, total_steps=total), 0.05, total),
    },
    "onecycleLinear": {
        "options": {"maxLearningRate": 0.2, "pctStart": 0.25, "divFactor": 10, "finalDivFactor": 100, "annealStrategy": "linear"},
        "lrs": record(
            lambda o: torch.optim.lr_scheduler.OneCycleLR(
                o, 0.2, total_steps=total, pct_start=0.25, div_factor=10, final_div_factor=100, anneal_strategy="linear"
            ),
            0.2,
            total,
        ),
    },
    "cosine": {
        "options": {"learningRate": 0.1, "minLearningRate": 0.001},
        "lrs": record(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=0.001), 0.1, total),
    },
}

path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "train", "torch_sgd_schedules.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", os.path.normpath(path))
