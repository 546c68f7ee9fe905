#!/usr/bin/env python3
"""Study the no-pet curve from `petcam-trainer camera --scores-out F` files (stdlib only).

The figures of models/MODEL_CARD.md "Where the rest of the no-pet gap lies" that the benchmark's
own report does not print come from here. A frame's score is the combined pet score of
src/evidence.rs, `a logit(crop) + b cell + c cam_cell + d view + e` (log-odds; a frame the locate
stage found nothing in is "no pet"), with the weights given or fitted here by logistic regression
(Newton's method, as `petcam-trainer fit-evidence`).

    # test-tuned figures, 95% of each height band's pets, the lowest-scoring pets by breed
    scripts/scores-study.py curve test.jsonl [--weights 0.619,0.081,0.236,0.573,-3.204]
    # --oracle frames: the pets' wide-view evidence comes from the located run of the same seed
    scripts/scores-study.py curve oracle.jsonl --evidence-from test.jsonl
    # --clip files: the score the benchmark wrote (the kiosk decision's average after the clip)
    scripts/scores-study.py curve clips.jsonl --as-scored
    # the kiosk's "not sure" too: no breed where the breed's probability given a pet is under 0.25
    scripts/scores-study.py curve test.jsonl --confidence 0.25
    # weights fitted on val (all seeds), threshold at val seed 1's 2% point; optionally one more
    # signal, or a second square's log-odds (a `--locator activation:scale=S` run) combined in
    scripts/scores-study.py refit val.jsonl [--judge test.jsonl] [--extra region_side]
    scripts/scores-study.py refit val.jsonl --seed 1 --second val-scale1.3.jsonl --combine mean
    # two networks on the same frames (e.g. the 96 and 128 px files' `--camera-seed 1,2,3` dumps),
    # each with its own weights: their combined log-odds averaged, the lower or the higher taken,
    # and with --band a cascade (B only where A's log-odds lie in the band)
    scripts/scores-study.py pair test-96.jsonl test-128.jsonl --weights-b 0.541,0.138,0.106,0.944,-3.666 [--band=-2,3]
"""
import argparse
import json
import math
import os
import re
from collections import Counter

NO_PET = 37
CLAMP = 1e-7
SHIPPED = [0.619, 0.081, 0.236, 0.573, -3.204]  # version 3.3's pet_evidence weights


def breeds():
    """The breed names, by label index, from src/labels.rs."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "labels.rs")) as f:
        text = f.read()
    return re.findall(r'"([^"]+)"', text[text.index("pub const BREEDS"):text.index("];")])


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def crop_logit(r):
    """The crop's log-odds as the device reads them back from its score (evidence::logit)."""
    p = 1 / (1 + math.exp(-max(min(r["pet_log_odds"], 50), -50)))
    p = min(max(p, CLAMP), 1 - CLAMP)
    return math.log(p / (1 - p))


def features(r, extra=None, crop=None):
    e = r["evidence"]
    x = [crop_logit(r) if crop is None else crop, e["cell"], e["cam_cell"], e["view"]]
    if extra:
        x.append(r[extra])
    return x + [1.0]


def score(w, x):
    return sum(a * b for a, b in zip(w, x))


def fit(xs, ys, l2=1e-3, iters=30):
    n = len(xs[0])
    w = [0.0] * n
    for _ in range(iters):
        g = [0.0] * n
        h = [[0.0] * n for _ in range(n)]
        for x, y in zip(xs, ys):
            p = 1 / (1 + math.exp(-max(min(score(w, x), 50), -50)))
            for i in range(n):
                g[i] += (p - y) * x[i]
                for j in range(n):
                    h[i][j] += p * (1 - p) * x[i] * x[j]
        for i in range(n):
            g[i] += l2 * w[i]
            h[i][i] += l2
        a = [row[:] + [gi] for row, gi in zip(h, g)]  # solve h d = g (Gauss-Jordan)
        for i in range(n):
            k = max(range(i, n), key=lambda r: abs(a[r][i]))
            a[i], a[k] = a[k], a[i]
            for r in range(n):
                if r != i:
                    f = a[r][i] / a[i][i]
                    a[r] = [u - f * v for u, v in zip(a[r], a[i])]
        w = [wi - a[i][n] / a[i][i] for i, wi in enumerate(w)]
    return w


def curve(scores, labels):
    """Test-tuned: pets given a breed at 2% false breeds, false breeds at 95% of pets."""
    pets = sorted((s for s, l in zip(scores, labels) if l != NO_PET), reverse=True)
    free = sorted((s for s, l in zip(scores, labels) if l == NO_PET), reverse=True)
    t2 = free[int(0.02 * len(free))]
    t95 = pets[math.ceil(0.95 * len(pets)) - 1]
    return sum(s > t2 for s in pets) / len(pets), sum(s >= t95 for s in free) / len(free), t95


def scored(rows, w, extra=None, crops=None):
    out = []
    for k, r in enumerate(rows):
        located = r["located"] and r["evidence"] is not None
        out.append(score(w, features(r, extra, None if crops is None else crops[k])) if located else -math.inf)
    return out


def cmd_curve(a):
    rows = load(a.scores)
    w = [float(v) for v in a.weights.split(",")]
    if a.evidence_from:
        located = load(a.evidence_from)
        assert len(located) == len(rows), "the two files must hold the same frames"
        for r, l in zip(rows, located):
            assert r["label"] == l["label"] and r["seed"] == l["seed"], "the two files must hold the same frames"
            if r["label"] != NO_PET:
                r["evidence"], r["located"] = l["evidence"], True
    # --as-scored: the pipeline's own pet score (with --clip, the kiosk decision's average; 0,
    # every frame of the window vetoed, counts as vetoed).
    s = [r["pet_score"] if r["pet_score"] > 0 else -math.inf for r in rows] if a.as_scored else scored(rows, w)
    if a.confidence:
        # "not sure" is no breed at any pet threshold (breed_top: ln of the breed's probability given a pet)
        s = [-math.inf if r["breed_top"] is None or r["breed_top"] < math.log(a.confidence) else x for x, r in zip(s, rows)]
    labels = [r["label"] for r in rows]
    pets2, free95, t95 = curve(s, labels)
    vetoed = sum(1 for r in rows if r["label"] != NO_PET and not r["located"])
    print(f"{a.scores}: {len(rows)} frames; pets vetoed {vetoed}; test-tuned: pets at 2% {100 * pets2:.1f}%, false breeds at 95% of pets {100 * free95:.2f}%")
    if t95 > -math.inf:
        # Which pet-free frames pass at the 95% point, by group, and how often the same photo does
        # (a `--camera-seed 1,2,3` file holds each photo once per seed, in the same order).
        seeds = sorted({r["seed"] for r in rows})
        n = len(rows) // len(seeds)
        passed = [k for k, (x, r) in enumerate(zip(s, rows)) if r["label"] == NO_PET and x >= t95]
        groups = Counter(rows[k]["scene"] for k in passed)
        of = Counter(r["scene"] for r in rows if r["label"] == NO_PET)
        print("  pet-free frames at the 95% point, by group: " + ", ".join(f"{g} {k} of {of[g]} ({100 * k / of[g]:.1f}%)" for g, k in groups.most_common()))
        if len(seeds) > 1 and all(rows[k]["label"] == rows[k % n]["label"] for k in range(len(rows))):
            times = Counter(Counter(k % n for k in passed).values())
            print("  their photos: " + ", ".join(f"{times[t]} in {t} of the {len(seeds)} seeds" for t in sorted(times, reverse=True)))
        if all(r.get("breed_top") is not None for r in rows):
            # How sure of the breed (its probability given a pet) the frames around that point are.
            t = math.log(a.threshold / (1 - a.threshold))
            groups = [("pet-free frames passing there", lambda x, r: r["label"] == NO_PET and x >= t95),
                      ("pets between it and the pet threshold", lambda x, r: r["label"] != NO_PET and t95 <= x < t),
                      ("all pets passing there", lambda x, r: r["label"] != NO_PET and x >= t95)]
            cells = []
            for name, of in groups:
                p = sorted(math.exp(r["breed_top"]) for x, r in zip(s, rows) if of(x, r))
                if p:
                    cells.append(f"{name} {len(p)}: median {p[len(p) // 2]:.2f}, {100 * sum(v < 0.25 for v in p) / len(p):.1f}% under 0.25")
            print("  breed probability given a pet: " + "; ".join(cells))
    for lo, hi in [(0.0, 0.5), (0.5, 0.7), (0.7, 1.01)]:
        band = [(x, r["label"]) for x, r in zip(s, rows) if r["label"] == NO_PET or lo <= r["subject_height"] < hi]
        pets = [x for x, l in band if l != NO_PET]
        if not pets:
            continue
        vetoed = sum(1 for x in pets if x == -math.inf)
        _, f95, t = curve([x for x, _ in band], [l for _, l in band])
        reach = "unreachable (over 5% vetoed)" if t == -math.inf else f"{100 * f95:.2f}%"
        print(f"  pets at {lo:.0%}-{min(hi, 1):.0%} of the frame height: {len(pets)}, {vetoed} vetoed; false breeds at 95% of them {reach}")
    pets = sorted((x for x, r in zip(s, rows) if r["label"] != NO_PET), reverse=True)
    t90 = pets[math.ceil(0.90 * len(pets)) - 1]
    low = [r for x, r in zip(s, rows) if r["label"] != NO_PET and x < t90]
    by, all_ = Counter(r["label"] for r in low), Counter(r["label"] for r in rows if r["label"] != NO_PET)
    names = breeds()
    print(f"  the {len(low)} pets under the 90%-of-pets point, by breed (of all its frames): " + ", ".join(f"{names[b]} {n} ({all_[b]})" for b, n in by.most_common(12)))
    print(f"  of those, pass the pet threshold {a.threshold} as clean photos: {sum(r['clean_pet_score'] >= a.threshold for r in low)}")


def cmd_refit(a):
    val = [r for r in load(a.scores) if a.seed is None or r["seed"] == a.seed]
    crops = None
    if a.second:
        second = load(a.second)
        assert len(second) == len(val), "the two files must hold the same frames"
        comb = {"mean": lambda u, v: (u + v) / 2, "min": min}[a.combine]
        crops = [comb(crop_logit(r), crop_logit(q)) for r, q in zip(val, second)]
    keep = [k for k, r in enumerate(val) if r["located"]]
    w = fit([features(val[k], a.extra, None if crops is None else crops[k]) for k in keep], [val[k]["label"] != NO_PET for k in keep])
    s = scored(val, w, a.extra, crops)
    seed1 = sorted((x for x, r in zip(s, val) if r["seed"] == 1 and r["label"] == NO_PET), reverse=True)
    t = seed1[int(0.02 * len(seed1))] + 1e-6
    print(f"weights fitted on {len(keep)} located frames of {a.scores}: {[round(v, 3) for v in w]}; threshold (log-odds) {t:.4f}")
    for name, rows, sc in [("fit", val, s)] + ([("judged", load(a.judge), None)] if a.judge else []):
        sc = sc if sc is not None else scored(rows, w, a.extra)
        labels = [r["label"] for r in rows]
        pets2, free95, _ = curve(sc, labels)
        pets = [x for x, l in zip(sc, labels) if l != NO_PET]
        free = [x for x, l in zip(sc, labels) if l == NO_PET]
        print(f"  {name}: at the threshold pets {100 * sum(x >= t for x in pets) / len(pets):.1f}%, false breeds {100 * sum(x >= t for x in free) / len(free):.2f}%; test-tuned: pets at 2% {100 * pets2:.1f}%, false breeds at 95% of pets {100 * free95:.2f}%")


def cmd_pair(a):
    ra, rb = load(a.a), load(a.b)
    assert len(ra) == len(rb) and all(
        x["label"] == y["label"] and x["seed"] == y["seed"] and x["subject_height"] == y["subject_height"] for x, y in zip(ra, rb)
    ), "the two files must hold the same frames"
    sa = scored(ra, [float(v) for v in a.weights_a.split(",")])
    sb = scored(rb, [float(v) for v in a.weights_b.split(",")])
    labels = [r["label"] for r in ra]

    def one(x, y):
        # A frame one network's locate stage vetoes keeps the other's score ("either finds it").
        return y if x == -math.inf else x if y == -math.inf else None

    combined = [
        ("A alone", sa),
        ("B alone", sb),
        ("mean (vetoed by either: no pet)", [(x + y) / 2 for x, y in zip(sa, sb)]),
        ("mean (vetoed by one: the other's score)", [(x + y) / 2 if one(x, y) is None else one(x, y) for x, y in zip(sa, sb)]),
        ("the lower", [min(x, y) for x, y in zip(sa, sb)]),
        ("the higher", [max(x, y) for x, y in zip(sa, sb)]),
    ]
    def cascade(name, doubt):
        # B looks only at the frames A doubts, and a frame is a pet if either says so there.
        return (f"{name} (B on {100 * sum(doubt) / len(doubt):.1f}% of the frames)", [max(x, y) if d else x for x, y, d in zip(sa, sb, doubt)])

    for band in a.band or []:
        lo, hi = (float(v) for v in band.split(","))
        doubt = [lo <= x <= hi for x in sa]
        combined.append(cascade(f"the higher where A's log-odds lie in [{lo:g}, {hi:g}], else A", doubt))
        combined.append(cascade("the same, and A's vetoed frames", [d or x == -math.inf for x, d in zip(sa, doubt)]))
    for name, s in combined:
        pets2, free95, t95 = curve(s, labels)
        reach = "unreachable (over 5% of pets vetoed)" if t95 == -math.inf else f"{100 * free95:.2f}%"
        print(f"{name}: test-tuned: pets at 2% {100 * pets2:.1f}%, false breeds at 95% of pets {reach}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(required=True)
    c = sub.add_parser("curve")
    c.add_argument("scores")
    c.add_argument("--weights", default=",".join(map(str, SHIPPED)))
    c.add_argument("--evidence-from")
    c.add_argument("--as-scored", action="store_true", help="read each frame's pet score as the benchmark wrote it (--clip files)")
    c.add_argument("--threshold", type=float, default=0.7742, help="pet threshold of the file (for the clean photos' scores)")
    c.add_argument("--confidence", type=float, help="the kiosk's breed confidence threshold: under it \"not sure\", no breed")
    c.set_defaults(run=cmd_curve)
    r = sub.add_parser("refit")
    r.add_argument("scores")
    r.add_argument("--seed", type=int, help="only this camera seed's frames of SCORES")
    r.add_argument("--judge")
    r.add_argument("--extra")
    r.add_argument("--second")
    r.add_argument("--combine", choices=["mean", "min"], default="mean")
    r.set_defaults(run=cmd_refit)
    q = sub.add_parser("pair")
    q.add_argument("a")
    q.add_argument("b")
    q.add_argument("--weights-a", default=",".join(map(str, SHIPPED)))
    q.add_argument("--weights-b", default=",".join(map(str, SHIPPED)))
    q.add_argument("--band", action="append", metavar="LO,HI", help="also a cascade: B only where A's log-odds lie in [LO, HI]")
    q.set_defaults(run=cmd_pair)
    a = p.parse_args()
    a.run(a)


if __name__ == "__main__":
    main()
