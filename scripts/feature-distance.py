#!/usr/bin/env python3
"""Study: does a distance in feature space help the no-pet decision?

Mahalanobis distance (Lee et al. 2018) of the L2-normalised backbone features to the nearest of the
37 breed means (shared covariance fitted on the training pets), fused with the shipped score
(logit of 1 - P(no pet)) as `z(shipped) + w * z(-distance)`, each standardised on validation pets.
The fusion weight w and the number of principal directions k are chosen on validation; every
threshold is set on the validation no-pet photos (at most 1.5% passing), and judged on test.

    cargo run --profile trainer -p petcam-trainer --example dump_features -- \
        runs/effnet-np/best.bin ../shared/datasets/pets ../shared/datasets/no-pets /tmp/features
    python3 scripts/feature-distance.py /tmp/features --temperature 0.709

Needs numpy (pip install numpy). Prints one row per (k, w) and the row validation picks.
"""
import argparse
import csv
import os

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("folder")
ap.add_argument("--temperature", type=float, default=0.709)
ap.add_argument("--max-false-breed", type=float, default=0.015)
args = ap.parse_args()

rows = list(csv.DictReader(open(os.path.join(args.folder, "meta.csv"))))
F = np.fromfile(os.path.join(args.folder, "features.f32"), dtype="<f4").reshape(len(rows), -1).astype(np.float64)
Z = np.fromfile(os.path.join(args.folder, "logits.f32"), dtype="<f4").reshape(len(rows), -1).astype(np.float64)
split = np.array([r["split"] for r in rows])
label = np.array([int(r["label"]) for r in rows])
oxford = np.array([r["oxford"] == "true" for r in rows])
NP = Z.shape[1] - 1  # the no-pet output
pet, no = label < NP, label == NP
train = split == "Train"
sets = {
    "val_pets": (split == "Val") & pet & oxford,
    "val_no": (split == "Val") & no,
    "test_pets": (split == "Test") & pet & oxford,
    "test_no": (split == "Test") & no,
}


def softmax(z, t):
    z = z / t
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def threshold(no_scores, max_false):
    s = np.sort(no_scores)[::-1]
    v = s[int(np.floor(max_false * len(s)))]
    return v + max(abs(v), 1.0) * 1e-6


correct = Z[sets["test_pets"], :NP].argmax(1) == label[sets["test_pets"]]


def judge(score):
    th = threshold(score[sets["val_no"]], args.max_false_breed)
    tp, tn = score[sets["test_pets"]], score[sets["test_no"]]
    passing = tp >= th
    best = max([(tp >= t).mean() for t in np.unique(np.concatenate([tp, tn])) if (tn >= t).mean() <= 0.02] + [0.0])
    return {
        "val_recall": (score[sets["val_pets"]] >= th).mean(),
        "false_breed": (tn >= th).mean(),
        "recall": passing.mean(),
        "top1_lost": correct.mean() - (correct & passing).mean(),
        "best_recall_at_2pct": best,
    }


def standardise(s):
    v = s[sets["val_pets"]]
    return (s - v.mean()) / v.std()


p_no = softmax(Z, args.temperature)[:, NP]
shipped = np.log(np.clip(1 - p_no, 1e-12, 1)) - np.log(np.clip(p_no, 1e-12, 1))

X = F / np.linalg.norm(F, axis=1, keepdims=True)
tp_mask = train & pet
means = np.stack([X[tp_mask & (label == c)].mean(0) for c in range(NP)])
R = X[tp_mask] - means[label[tp_mask]]
S = R.T @ R / len(R)
S += 0.01 * np.trace(S) / len(S) * np.eye(len(S))  # shrinkage
eigval, eigvec = np.linalg.eigh(S)
order = np.argsort(eigval)[::-1]


def distance_score(k):
    idx = order[:k] if k else order
    W = eigvec[:, idx] / np.sqrt(eigval[idx])
    Y, M = X @ W, means @ W
    d = (Y**2).sum(1)[:, None] - 2 * Y @ M.T + (M**2).sum(1)[None, :]
    return -d.min(1)


def fmt(r):
    return (f"val recall {100 * r['val_recall']:6.2f}% | test false-breed {100 * r['false_breed']:5.2f}% "
            f"recall {100 * r['recall']:6.2f}% top-1 lost {100 * r['top1_lost']:5.2f} | "
            f"best recall at <=2% (test-tuned) {100 * r['best_recall_at_2pct']:6.2f}%")


print(f"{sets['val_pets'].sum()} val pets, {sets['val_no'].sum()} val no-pets, {sets['test_pets'].sum()} test pets, "
      f"{sets['test_no'].sum()} test no-pets; {tp_mask.sum()} training pets fit the breed means")
base = judge(shipped)
print(f"{'shipped: 1 - P(no pet)':38s} {fmt(base)}")
results = []
for k in [128, 256, None]:
    dist = standardise(distance_score(k))
    r = judge(dist)
    print(f"{'distance alone, k=' + str(k or X.shape[1]):38s} {fmt(r)}")
    for w in [0.1, 0.25, 0.5, 1.0]:
        r = judge(standardise(shipped) + w * dist)
        results.append((k or X.shape[1], w, r))
        print(f"{f'fused, k={k or X.shape[1]} w={w}':38s} {fmt(r)}")
k, w, r = max(results, key=lambda t: t[2]["val_recall"])  # first best on validation
print(f"\nchosen on validation: k={k} w={w}\n{'':38s} {fmt(r)}\n{'shipped':38s} {fmt(base)}")
