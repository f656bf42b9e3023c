#!/usr/bin/env bash
# The measured privacy run (issue 16, item 3): the committed offline run's medical setting
# (20 questions, records cut to 3,000 tokens by BM25, local qwen2.5-coder-0.5b, remote
# stand-in qwen2.5-coder-1.5b priced as openai:gpt-4o, MinionS with a JSON plan, one
# round, two tasks) for minion and minions, with the privacy shield off and strict.
# Traces are kept: evals/privacy_report.py reads them to count the gold sensitive spans
# in what the remote was sent and the spans the shield masked that were not sensitive.
#
#   evals/run_privacy.sh                              # as committed
#   evals/run_privacy.sh --limit 2                    # extra arguments go to both evals
#
# Every eval resumes where it stopped: after Ctrl-C or a crash run the same command again.
set -euo pipefail

OUT="${OUT:-evals/results/privacy}"
MINIONS="${MINIONS:-minions}"
PYTHON="${PYTHON:-python}"
COMMON=(
  --dataset longhealth --context tokens:3000 --sample 20
  --protocols minion,minions
  --local llamacpp:qwen2.5-coder-0.5b
  --remote llamacpp:qwen2.5-coder-1.5b
  --price-as openai:gpt-4o
  --seed 0
  --option minions.plan=json
  --option minions.max_rounds=1
  --option minions.num_tasks_per_round=2
  --traces
)

for privacy in off strict; do
  $MINIONS eval "${COMMON[@]}" --privacy "$privacy" --out "$OUT/$privacy" "$@"
done

$PYTHON -m minions.evals.privacy_report "$OUT"
