#!/usr/bin/env bash
# Does a second MinionS round help, and does the feedback steer it (issue 15, item 3)?
# The same 10 dev medical questions (benchmarks/local_jobs.py's dev split: not among the
# committed offline run's questions) with the offline pair, MinionS as the offline run
# sets it (JSON plan, two tasks), max_rounds=1 against max_rounds=2; then the report.
# Question by question, both settings in turn (a run folder per question, as an eval
# folder's settings name its questions), so a partial run is already paired.
#
#   evals/run_rounds.sh            # resumes where it stopped
set -euo pipefail

OUT="${OUT:-evals/results/rounds}"
MINIONS="${MINIONS:-minions}"
PYTHON="${PYTHON:-python}"
for id in $($PYTHON benchmarks/local_jobs.py --print-ids medical --medical 10); do
  for rounds in 1 2; do
    $MINIONS eval --dataset longhealth --context tokens:3000 --ids "$id" --protocols minions \
      --local llamacpp:qwen2.5-coder-0.5b --remote llamacpp:qwen2.5-coder-1.5b \
      --price-as openai:gpt-4o --seed 0 --traces \
      --option minions.plan=json --option minions.num_tasks_per_round=2 \
      --option minions.max_rounds=$rounds --out "$OUT/rounds-$rounds/${id//\//-}"
  done
done
$PYTHON -m minions.evals.rounds_report "$OUT"
