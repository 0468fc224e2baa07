#!/usr/bin/env python3
"""Reference values for tests/test_train.c, computed with PyTorch autograd.

Run: /usr/bin/python3 tests/train_reference.py > /tmp/ref.txt
The numbers it printed are pasted into tests/test_train.c (section "PyTorch
references"); the test itself never needs torch. The inputs are the same
closed-form sequences as tu_seq() in the test: x_k = a * sin(b * k + c),
computed in double and rounded to float32.
"""
import math
import torch

torch.set_default_dtype(torch.float64)


def seq(n, a, b, c):
    """float32 values a * sin(b * k + c), returned as float64 tensors."""
    return torch.tensor([a * math.sin(b * k + c) for k in range(n)], dtype=torch.float32).double()


def emit(name, t):
    vals = ", ".join("%.17g" % v for v in t.detach().reshape(-1).tolist())
    print("static const double %s[] = {%s};" % (name, vals))


def margin(kind, s, m, x, w, labels):
    xn = torch.nn.functional.normalize(x)
    wn = torch.nn.functional.normalize(w)
    cos = (xn @ wn.t()).clamp(-1, 1)
    ct = cos[torch.arange(len(labels)), labels]
    if kind == "arc":
        sine = torch.sqrt(1 - ct * ct)
        phi = ct * math.cos(m) - sine * math.sin(m)
        th = math.cos(math.pi - m)
        mm = math.sin(math.pi - m) * m
        phi = torch.where(ct > th, phi, ct - mm)
    else:
        phi = ct - m
    onehot = torch.nn.functional.one_hot(labels, w.shape[0]).bool()
    logits = torch.where(onehot, phi.unsqueeze(1), cos) * s
    return torch.nn.functional.cross_entropy(logits, labels)


def main():
    # Softmax cross-entropy with label smoothing 0.1, B = 3, C = 5.
    z = seq(15, 2.0, 1.3, 0.7).reshape(3, 5).requires_grad_()
    y = torch.tensor([1, 4, 0])
    loss = torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1)
    loss.backward()
    print("/* softmax CE: logits seq(15, 2, 1.3, 0.7), labels {1, 4, 0}, smoothing 0.1 */")
    emit("ref_ce_loss", loss.reshape(1))
    emit("ref_ce_grad", z.grad)

    # Margin heads, B = 3, D = 4, C = 5; row 2's target class weight points
    # against its embedding, so ArcFace takes the theta + m > pi fallback.
    for kind, s, m in (("arc", 64.0, 0.5), ("cos", 64.0, 0.4)):
        x = seq(12, 1.5, 0.9, 0.3).reshape(3, 4)
        w = seq(20, 1.0, 0.7, 1.1).reshape(5, 4)
        # Row 3 points nearly against embedding 2 (theta about 170 degrees).
        w[3] = -2 * x[2] + torch.tensor([0.25, -0.125, 0.125, 0.25])  # exact in float32
        if kind == "arc":
            c = torch.nn.functional.normalize(x[2:3]) @ torch.nn.functional.normalize(w[3:4]).t()
            assert c.item() < -math.cos(m), c
        x.requires_grad_()
        w.requires_grad_()
        y = torch.tensor([2, 0, 3])
        loss = margin(kind, s, m, x, w, y)
        loss.backward()
        print("/* %sface: emb seq(12, 1.5, 0.9, 0.3), weights seq(20, 1, 0.7, 1.1) with row 3 = -2 emb row 2 + {.25, -.125, .125, .25}, "
              "labels {2, 0, 3}, s %g, m %g */" % (kind, s, m))
        emit("ref_%s_loss" % kind, loss.reshape(1))
        emit("ref_%s_gemb" % kind, x.grad)
        emit("ref_%s_gw" % kind, w.grad)

    # BCE with logits and sigmoid focal loss (torchvision's formula), n = 7.
    x = seq(7, 3.0, 2.1, 0.2).requires_grad_()
    t = torch.tensor([1, 0, 1, 0, 0.3, 1, 0], dtype=torch.float32).double()  # 0.3 as the float the test passes
    wt = torch.tensor([1, 1, 0.5, 2, 1, 0, 1], dtype=torch.float64)
    loss = (torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none") * wt).sum() / 4
    loss.backward()
    print("/* BCE: logits seq(7, 3, 2.1, 0.2), targets and weights as in the test, norm 4 */")
    emit("ref_bce_loss", loss.reshape(1))
    emit("ref_bce_grad", x.grad)
    x.grad = None
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    a_t = 0.25 * t + 0.75 * (1 - t)
    loss = (a_t * ce * (1 - p_t) ** 2 * wt).sum() / 4
    loss.backward()
    print("/* focal: alpha 0.25, gamma 2, same inputs */")
    emit("ref_focal_loss", loss.reshape(1))
    emit("ref_focal_grad", x.grad)

    # Regression: 3 items x 4 coordinates, mask {1, 0.5, 0}, norm 2.
    pr = seq(12, 4.0, 1.7, 0.4).requires_grad_()
    tg = seq(12, 1.0, 0.6, 2.0)
    mk = torch.tensor([1.0, 0.5, 0.0]).repeat_interleave(4)
    for name, fn in (
        ("l1", lambda d: d.abs()),
        ("sl1", lambda d: torch.where(d.abs() < 1.0, 0.5 * d * d, d.abs() - 0.5)),
        ("l2", lambda d: d * d),
        ("wing", lambda d: torch.where(d.abs() < 10, 10 * torch.log1p(d.abs() / 2),
                                       d.abs() - (10 - 10 * math.log1p(10 / 2)))),
    ):
        pr.grad = None
        loss = (fn(pr - tg) * mk).sum() / 2
        loss.backward()
        print("/* regression %s: pred seq(12, 4, 1.7, 0.4), target seq(12, 1, 0.6, 2), mask {1, .5, 0}, norm 2 */"
              % name)
        emit("ref_%s_loss" % name, loss.reshape(1))
        emit("ref_%s_grad" % name, pr.grad)

    # GIoU (torchvision's generalized_box_iou_loss with eps 1e-7), 3 boxes:
    # overlapping, disjoint, and containing.
    b = torch.tensor([[0, 0, 4, 3], [10, 10, 12, 13], [1, 1, 9, 9]], dtype=torch.float32).double()
    g = torch.tensor([[1, 1, 5, 5], [0, 0, 2, 2], [3, 2, 6, 7]], dtype=torch.float32).double()
    for name, giou in (("iou", False), ("giou", True)):
        bb = b.clone().requires_grad_()
        x1, y1, x2, y2 = bb.unbind(-1)
        x1g, y1g, x2g, y2g = g.unbind(-1)
        xk1, yk1 = torch.max(x1, x1g), torch.max(y1, y1g)
        xk2, yk2 = torch.min(x2, x2g), torch.min(y2, y2g)
        inter = torch.zeros_like(x1)
        mask = (yk2 > yk1) & (xk2 > xk1)
        inter = torch.where(mask, (xk2 - xk1) * (yk2 - yk1), inter)
        union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
        iou = inter / (union + 1e-7)
        if giou:
            xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
            xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
            area_c = (xc2 - xc1) * (yc2 - yc1)
            iou = iou - (area_c - union) / (area_c + 1e-7)
        loss = (1 - iou).sum() / 3
        loss.backward()
        print("/* %s loss of the three boxes in the test, norm 3 */" % name)
        emit("ref_%s_loss" % name, loss.reshape(1))
        emit("ref_%s_grad" % name, bb.grad)

    # Optimisers: two parameters, fixed gradients per step, three steps.
    grads = [[0.5, -1.0], [0.25, 0.75], [-0.5, 0.125]]
    cases = (
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.1)),
        ("momentum", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01)),
        ("nesterov", lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("adamw", lambda p: torch.optim.AdamW(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)),
    )
    for name, make in cases:
        w = torch.tensor([1.0, -2.0], dtype=torch.float32, requires_grad=True)
        opt = make([w])
        out = []
        for gr in grads:
            w.grad = torch.tensor(gr, dtype=torch.float32)
            opt.step()
            out.extend(w.detach().tolist())
        print("/* %s: w0 {1, -2}, gradients {.5, -1}, {.25, .75}, {-.5, .125}; float32 */" % name)
        emit("ref_opt_%s" % name, torch.tensor(out))


if __name__ == "__main__":
    main()
