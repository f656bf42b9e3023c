#!/usr/bin/env bash
# The measured offline run (issue 5, item 6): local qwen2.5-coder-0.5b, remote stand-in
# qwen2.5-coder-1.5b priced as openai:gpt-4o, for remote_only, minion and minions, on
# 20 FinanceBench questions (pages:6) and 20 medical questions, then one report of both
# in $OUT (report.md, cost_vs_accuracy.png, and each dataset's run folder).
#
#   evals/run_offline.sh                              # as committed
#   evals/run_offline.sh --limit 2                    # extra arguments go to both evals
#
# Every eval resumes where it stopped, so after Ctrl-C or a crash run the same command
# again. Other settings into the same $OUT are refused: choose another OUT=... then.
set -euo pipefail

OUT="${OUT:-evals/results/offline}"
MINIONS="${MINIONS:-minions}"  # e.g. MINIONS="python -m minions.cli"
COMMON=(
  --protocols remote_only,minion,minions
  --local llamacpp:qwen2.5-coder-0.5b
  --remote llamacpp:qwen2.5-coder-1.5b
  --price-as openai:gpt-4o
  --seed 0
  # MinionS as suits a 1.5B remote: a JSON plan (its prepare_jobs code often fails and
  # the retries cost more than they save), one round, two tasks
  --option minions.plan=json
  --option minions.max_rounds=1
  --option minions.num_tasks_per_round=2
)

# FinanceBench: the 30 metrics-generated questions have one-figure golds, scored by
# value without a judge; 20 of them drawn at random (seeded).
$MINIONS eval --dataset financebench --context pages:6 \
  --where question_type=metrics-generated --sample 20 \
  "${COMMON[@]}" --out "$OUT/financebench" "$@"

# Medical records QA: 20 questions drawn at random across the 14 patients; each
# patient's texts ranked by BM25 against the question and options, kept up to 3,000
# tokens (a full record is 9-24k tokens, too slow for the offline pair on 2 cores: at
# 3,000 tokens the 60 medical pairs take about an hour here).
$MINIONS eval --dataset longhealth --context tokens:3000 --sample 20 \
  "${COMMON[@]}" --out "$OUT/longhealth" "$@"

$MINIONS eval report "$OUT"
