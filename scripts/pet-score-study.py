#!/usr/bin/env python3
"""Study: can a pet score fitted on camera frames beat the shipped 1 - P(no pet)?

Reads the rows `trainer/examples/camera_features.rs` writes for the train, val and test splits
(label, scene, located, pet score, breed, crop features, wide-view mean and max features, head's
best cell), fits logistic regressions on the train frames with numpy, sets each score's
threshold on val (at most 2% of the pet-free frames given a breed) and prints the test figures
beside the shipped score's; and pet scores from second looks at the same frame (the located square
mirrored, a 1.25x square around it). Needs numpy only.

    python3 scripts/pet-score-study.py target/tmp/val.f32 target/tmp/test.f32 [target/tmp/train.f32]
"""
import sys

import numpy as np

C = 1280
VETOED = -1e8
W = 5 + 3 * C + 1 + 2  # + the mirrored square's pet score and the 1.25x square's


def load(path):
    a = np.fromfile(path, dtype="<f4").reshape(-1, W)
    return {
        "flip": a[:, W - 2],
        "wider": a[:, W - 1],
        "label": a[:, 0].astype(int),
        "scene": a[:, 1].astype(int),
        "located": a[:, 2] > 0.5,
        "score": a[:, 3],
        "crop": a[:, 5 : 5 + C],
        "wmean": a[:, 5 + C : 5 + 2 * C],
        "wmax": a[:, 5 + 2 * C : 5 + 3 * C],
        "head": a[:, 5 + 3 * C : 5 + 3 * C + 1],
    }


def fit(x, y, w, l2, iters=600, lr=0.05):
    """Weighted L2 logistic regression, full-batch Adam (convex: any good optimiser gets there)."""
    n, d = x.shape
    theta = np.zeros(d + 1)
    m = np.zeros(d + 1)
    v = np.zeros(d + 1)
    xb = np.hstack([x, np.ones((n, 1))])
    ws = w / w.sum()
    for t in range(1, iters + 1):
        z = xb @ theta
        p = 1 / (1 + np.exp(-z))
        g = xb.T @ (ws * (p - y))
        g[:-1] += l2 * theta[:-1]
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        theta -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return theta


def score(theta, x):
    return np.hstack([x, np.ones((len(x), 1))]) @ theta


def figures(s, d, t):
    pets = d["label"] < 37
    free = ~pets
    animal = free & (d["scene"] == 0)
    shown = (s >= t) & (s > VETOED)  # a vetoed frame is never given a breed
    return shown[pets].mean(), shown[free].mean(), shown[animal].mean()


def threshold_for_false(s, d, max_false):
    free = np.sort(s[d["label"] >= 37])[::-1]
    k = int(np.floor(max_false * len(free)))
    return np.nextafter(free[k], np.inf) if k < len(free) else -np.inf


def threshold_for_pets(s, d, min_pets):
    pets = np.sort(s[d["label"] < 37])
    k = int(np.floor((1 - min_pets) * len(pets)))
    return pets[k]


def report(name, sv, st, val, test):
    t = threshold_for_false(sv, val, 0.02)
    p, f, a = figures(st, test, t)
    t2 = threshold_for_false(st, test, 0.02)
    p2, _, _ = figures(st, test, t2)
    t3 = threshold_for_pets(st, test, 0.95)
    p3, f3, a3 = figures(st, test, t3)
    at95 = f"false at 95% pets {100*f3:4.1f}% (animals {100*a3:4.1f}%)" if p3 >= 0.95 else f"95% of pets unreachable (the veto leaves {100*p3:.1f}%)"
    print(f"{name:<52} val-set threshold: pets {100*p:5.1f}%  false {100*f:4.1f}%  animals {100*a:4.1f}%"
          f" | test-tuned: pets at 2% false {100*p2:5.1f}%, {at95}")


def located_pets_only(name, d):
    """What the veto costs at the 95% point: the pets it calls no pet, and the false breeds if
    only the located pets had to reach a share (the shipped score)."""
    pets, free = d["label"] < 37, d["label"] >= 37
    vetoed = int((pets & ~d["located"]).sum())
    at_all = figures(d["score"], d, threshold_for_pets(d["score"], d, 0.95))[1]
    located = {k: v[d["located"] | free] for k, v in d.items()}
    cells = []
    for share in [0.95, 0.92]:
        t = threshold_for_pets(located["score"], located, share)
        cells.append(f"{100*share:.0f}% of them: threshold {t:.2f}, false {100*figures(d['score'], d, t)[1]:.1f}%")
    print(f"{name}: {vetoed} of {int(pets.sum())} pets vetoed; 95% of all pets: false {100*at_all:.1f}%;"
          f" of the located pets, {'; '.join(cells)}")


def main():
    val, test = load(sys.argv[1]), load(sys.argv[2])
    train = load(sys.argv[3]) if len(sys.argv) > 3 else None
    for name, d in [("train", train), ("val", val), ("test", test)]:
        if d is None:
            continue
        print(f"{name}: {int((d['label'] < 37).sum())} pets, {int((d['label'] >= 37).sum())} pet-free frames"
              f" ({int(((d['label'] >= 37) & (d['scene'] == 0)).sum())} animals)")
    for name, d in [("val", val), ("test", test)]:
        located_pets_only(name, d)
    veto = lambda d, s: np.where(d["located"], s, -1e9)
    # The shipped pet score is 0 where the locate stage vetoed the frame.
    val["score"] = np.where(val["located"], val["score"], -1e9)
    test["score"] = np.where(test["located"], test["score"], -1e9)
    logit = lambda p: np.log(np.clip(p, 1e-7, 1)) - np.log(np.clip(1 - p, 1e-7, 1))
    report("shipped: 1 - P(no pet), veto", val["score"], test["score"], val, test)
    # Second looks: the located square mirrored, and a square 1.25x as large around it.
    for name, f in [
        ("mean log-odds, square and its mirror image", lambda d: logit(d["score"]) + logit(d["flip"])),
        ("lower of the two, square and mirror", lambda d: np.minimum(logit(d["score"]), logit(d["flip"]))),
        ("mean log-odds, square and 1.25x square", lambda d: logit(d["score"]) + logit(d["wider"])),
        ("mean log-odds of all three", lambda d: logit(d["score"]) + logit(d["flip"]) + logit(d["wider"])),
    ]:
        report(name, veto(val, f(val)), veto(test, f(test)), val, test)
    # A stricter veto: the locator head's best cell must reach h log-odds (the shipped veto is 0).
    for h in [1.0, 2.0, 3.0]:
        report(f"veto at head log-odds {h:g}", np.where(val["head"][:, 0] >= h, val["score"], -1e9), np.where(test["head"][:, 0] >= h, test["score"], -1e9), val, test)
    if train is None:
        return
    sets = {
        "crop": lambda d: d["crop"],
        "crop + head": lambda d: np.hstack([d["crop"], d["head"]]),
        "crop + wide mean + head": lambda d: np.hstack([d["crop"], d["wmean"], d["head"]]),
        "crop + wide mean + wide max + head": lambda d: np.hstack([d["crop"], d["wmean"], d["wmax"], d["head"]]),
    }
    y = (train["label"] < 37).astype(float)
    for animal_w in [1.0, 3.0]:
        w = np.where(train["label"] < 37, 1.0, np.where(train["scene"] == 0, animal_w, 1.0))
        w = np.where(y > 0, w / w[y > 0].sum(), w / w[y == 0].sum())
        for name, f in sets.items():
            xt = f(train)
            mu, sd = xt.mean(0), xt.std(0) + 1e-6
            z = lambda d: (f(d) - mu) / sd
            for l2 in [1e-3, 1e-2]:
                theta = fit((xt - mu) / sd, y, w, l2)
                sv, st = score(theta, z(val)), score(theta, z(test))
                report(f"LR {name}, animals x{animal_w:g}, l2 {l2:g}", veto(val, sv), veto(test, st), val, test)
                if name == "crop":
                    # fused with the shipped score
                    report("   ... + shipped logit", veto(val, sv + logit(val["score"])), veto(test, st + logit(test["score"])), val, test)


if __name__ == "__main__":
    main()
