#!/usr/bin/env bash
# Runs the parameter studies reported in docs/STUDIES.md: the student project's questions, asked
# of our data with our trainer. Each study is one `petcam-trainer study` command; finished runs
# are skipped, so the script resumes where it stopped.
#
#   scripts/studies.sh [DATA_ROOT] [OUT]          # defaults: ../shared/datasets/pets, runs/studies
#   STUDIES="seed-optimizer effnet-depth" scripts/studies.sh   # only some of them
#
# Budgets are sized for a 2-core machine (about 80 minutes for all seven). Breeds only: the
# no-pet class is left out so that validation accuracy is breed accuracy, as in the student project.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${1:-$root/../shared/datasets/pets}
out=${2:-$root/runs/studies}
all="effnet-input-size effnet-depth seed-optimizer seed-input-size effnet-augment seed-dropout seed-augment"
only=${STUDIES:-$all}
[ -d "$data" ] || { echo "studies: no data set at $data" >&2; exit 2; }

cd "$root"
cargo build --profile trainer -p petcam-trainer >&2
trainer="$root/target/trainer/petcam-trainer"
export PETCAM_NO_PROGRESS=${PETCAM_NO_PROGRESS:-1}

study() { # NAME ARGS...
    local name=$1; shift
    case " $only " in *" $name "*) ;; *) return 0;; esac
    echo "== study $name" >&2
    "$trainer" study --data "$data" --out "$out/$name" "$@"
}

# EfficientNet-Lite0: the head on frozen ImageNet features at three input sizes (the backbone's
# features are computed once per size, then 4 head epochs).
study effnet-input-size --model effnet-lite0 --head-epochs 4 --epochs 0 --vary input-size=96,128,160
# Fine-tuning from that 96 px head: how many blocks to leave frozen, and how much augmentation.
# Budget: 2 epochs of 60 batches (3,840 pictures) each.
head="$out/effnet-input-size/input-size=96/best.bin"
ft=(--model effnet-lite0 --init "$head" --head-epochs 0 --epochs 2 --max-batches 60 --lr 1e-4 --warmup-epochs 0.2 --patience 0)
study effnet-depth "${ft[@]}" --vary freeze-blocks=9,5,2,0
study effnet-augment "${ft[@]}" --freeze-blocks 5 --vary augment=0,0.2,0.4
# Seed CNN from scratch, 3 epochs of 50 batches (4,800 pictures) each; Adam 1e-3 at 96 px with
# dropout 0.2 and augmentation 0.2 unless varied.
seed=(--model seed-cnn --lr 1e-3 --epochs 3 --max-batches 50 --warmup-epochs 0.2 --patience 0)
study seed-optimizer "${seed[@]}" --vary optimizer=adam,nadam,adadelta
study seed-input-size "${seed[@]}" --vary input-size=64,96,128
study seed-dropout "${seed[@]}" --vary dropout=0,0.2,0.4
study seed-augment "${seed[@]}" --vary augment=0,0.1,0.2
echo "studies: summaries in $out/*/summary.md" >&2
