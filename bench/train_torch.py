#!/usr/bin/python3
"""Training throughput of PyTorch on the same network as mfr (the peer of
`mfr train` in bench/bench_train.sh).

Builds the network from an mfr definition (models/mobilefacenet.cfg,
models/detector.cfg: the ops those files use), NHWC data in, and times full
training steps (forward in training mode, loss, backward, SGD/AdamW step) at
a batch size and thread count. The loss mirrors mfr's: an ArcFace head
(class weights C x D, s, m) on the embedder's output; on the detector a
focal-style BCE on the scores and L1 on boxes and landmarks (the target
assignment is not timed: the targets are fixed tensors, so the peer's number
is a pure step time, while mfr's also renders its batches on a second
thread). Prints one line: "images_per_s=X".

usage: /usr/bin/python3 bench/train_torch.py CFG --batch B --threads T --steps N
       [--classes C] [--warmup W]
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def parse_cfg(path):
    layers, cur = [], None
    for raw in open(path):
        line = raw.split("#")[0].split(";")[0].strip()
        if not line:
            continue
        if line.startswith("["):
            cur = {"type": line.strip("[]").strip()}
            layers.append(cur)
        else:
            k, v = [s.strip() for s in line.split("=", 1)]
            cur[k] = v
    return layers


class Net(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.specs, self.mods, shapes, names = [], nn.ModuleList(), {}, []
        prev = None
        for i, L in enumerate(layers):
            t = L["type"]
            name = L.get("name", "%s%d" % (t, i))
            inputs = [s.strip() for s in L["input"].split(",")] if "input" in L else ([prev] if prev else [])
            mod = None
            if t == "input":
                shape = (int(L["channels"]), int(L["height"]), int(L["width"]))
            elif t in ("conv", "dwconv"):
                c, h, w = shapes[inputs[0]]
                k = int(L.get("size", 1))
                s = int(L.get("stride", 1))
                p = int(L.get("pad", 0))
                bn = L.get("batch_normalize", "no") == "yes"
                if t == "dwconv":
                    out, groups = c, c
                else:
                    out, groups = int(L["filters"]), int(L.get("groups", 1))
                seq = [nn.Conv2d(c, out, k, s, p, groups=groups, bias=not bn)]
                if bn:
                    seq.append(nn.BatchNorm2d(out, eps=1e-5, momentum=0.1))
                act = L.get("activation", "linear")
                if act == "relu":
                    seq.append(nn.ReLU())
                elif act == "prelu":
                    seq.append(nn.PReLU(out, init=0.25))
                elif act == "sigmoid":
                    seq.append(nn.Sigmoid())
                elif act != "linear":
                    raise SystemExit("unsupported activation " + act)
                mod = nn.Sequential(*seq)
                shape = (out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            elif t == "maxpool":
                c, h, w = shapes[inputs[0]]
                k = int(L.get("size", 2))
                s = int(L.get("stride", k))
                mod = nn.MaxPool2d(k, s)
                shape = (c, (h - k) // s + 1, (w - k) // s + 1)
            elif t == "upsample":
                c, h, w = shapes[inputs[0]]
                sc = int(L.get("scale", 2))
                mod = nn.Upsample(scale_factor=sc, mode="nearest")
                shape = (c, h * sc, w * sc)
            elif t == "add":
                shape = shapes[inputs[0]]
            elif t == "l2norm":
                shape = shapes[inputs[0]]
            else:
                raise SystemExit("unsupported layer [%s]" % t)
            shapes[name] = shape
            names.append(name)
            self.specs.append((t, name, inputs, len(self.mods) if mod is not None else -1))
            if mod is not None:
                self.mods.append(mod)
            prev = name
        used = {n for _, _, ins, _ in self.specs for n in ins}
        self.outputs = [n for n in names if n not in used]
        self.shapes = shapes

    def forward(self, x):
        vals = {}
        for t, name, inputs, m in self.specs:
            if t == "input":
                v = x
            elif m >= 0:
                v = self.mods[m](vals[inputs[0]])
            elif t == "add":
                v = vals[inputs[0]]
                for n in inputs[1:]:
                    v = v + vals[n]
            elif t == "l2norm":
                v = F.normalize(vals[inputs[0]], dim=1)
            vals[name] = v
        return [vals[n] for n in self.outputs]


def arcface(emb, weight, labels, s=32.0, m=0.3):
    cos = F.linear(F.normalize(emb), F.normalize(weight)).clamp(-1 + 1e-7, 1 - 1e-7)
    theta = torch.acos(cos.gather(1, labels[:, None]))
    phi = torch.where(cos.gather(1, labels[:, None]) > math.cos(math.pi - m), torch.cos(theta + m),
                      cos.gather(1, labels[:, None]) - m * math.sin(m))
    logits = cos.scatter(1, labels[:, None], phi) * s
    return F.cross_entropy(logits, labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cfg")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--classes", type=int, default=1000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = Net(parse_cfg(a.cfg))
    c, h, w = net.shapes[net.specs[0][1]]
    x = torch.randn(a.batch, c, h, w).contiguous(memory_format=torch.channels_last)
    net = net.to(memory_format=torch.channels_last)
    net.train()
    detector = len(net.outputs) > 1
    params = list(net.parameters())
    if detector:
        outs = net(x)
        targets = [torch.rand_like(o) if o.shape[1] == 1 else torch.randn_like(o) for o in outs]
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-4)
    else:
        dim = net.shapes[net.outputs[0]][0]
        head = nn.Parameter(torch.randn(a.classes, dim) * 0.01)
        labels = torch.randint(0, a.classes, (a.batch,))
        opt = torch.optim.SGD(params + [head], lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step():
        opt.zero_grad()
        outs = net(x)
        if detector:
            loss = 0
            for o, t in zip(outs, targets):
                if o.shape[1] == 1:
                    loss = loss + F.binary_cross_entropy(o.clamp(1e-6, 1 - 1e-6), (t > 0.9).float())
                else:
                    loss = loss + F.l1_loss(o, t)
        else:
            loss = arcface(outs[0].flatten(1), head, labels)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = time.perf_counter() - t0
    print("images_per_s=%.3f" % (a.batch * a.steps / dt))


if __name__ == "__main__":
    main()
