#!/usr/bin/env bash
# The measured auto run (issue 17, item 5): on the shared medical set with the offline pair
# (local qwen2.5-coder-0.5b, remote stand-in qwen2.5-coder-1.5b priced as openai:gpt-4o),
# `minions tune` on 15 dev questions (the six default plans; the frontier and the profile),
# then on 15 test questions (the other half of the ids, never tuned on) the dev frontier's
# plans, `auto` calibrated on dev to quality:0.95 (and to usd:0.01) and remote_only as a
# reference; then the report.
#
#   evals/run_auto.sh                 # as committed; resumes where it stopped
#
# Every plan is an eval folder that resumes (finished questions are skipped), and one
# response cache serves calls plans share (auto's stages are the frontier plans' calls),
# while each plan's cost is reported uncached. The context is the offline run's.
set -euo pipefail

OUT="${OUT:-evals/results/auto}"
MINIONS="${MINIONS:-minions}"
PYTHON="${PYTHON:-python}"
COMMON=(--dataset longhealth --context tokens:3000 --sample 15
        --local llamacpp:qwen2.5-coder-0.5b --remote llamacpp:qwen2.5-coder-1.5b
        --price-as openai:gpt-4o)

$MINIONS tune "${COMMON[@]}" --split dev --out "$OUT/dev" --profile "$OUT/profile.json"

plans=()
while IFS= read -r plan; do plans+=(--plan "$plan"); done \
  < <($PYTHON -m minions.evals.auto_report --plans "$OUT/profile.json")
plans+=(--plan "auto=auto:profile=$OUT/profile.json,target=quality:0.95")
plans+=(--plan "auto-usd=auto:profile=$OUT/profile.json,target=usd:0.01")
# remote_only, the price every protocol is compared with, runs on test as a reference
# when the dev frontier left it out
case " ${plans[*]} " in
  *" remote_only=remote_only "*) ;;
  *) plans+=(--plan "remote_only=remote_only") ;;
esac
$MINIONS tune "${COMMON[@]}" --split test "${plans[@]}" --out "$OUT/test" \
  --profile "$OUT/test-profile.json"

$PYTHON -m minions.evals.auto_report "$OUT"
