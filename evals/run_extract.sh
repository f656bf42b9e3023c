#!/usr/bin/env bash
# The measured extraction run (issue 14, item 4): `minions extract` with the offline pair
# (local qwen2.5-coder-0.5b, remote stand-in qwen2.5-coder-1.5b priced as openai:gpt-4o)
# on the medical records (14 patients, 4 fields, 56 gold cells) and 10 FinanceBench
# line items, plain and with --synthesize; the remote's tokens for 1, 5 and 14 patients;
# the same cells asked one by one through `minions batch` with MinionS; then one report.
#
#   evals/run_extract.sh                 # as committed; resumes where it stopped
#
# Every step resumes (extract and batch skip finished documents and rows, and a resumed
# extraction reuses its plan), so after Ctrl-C or a crash run the same command again.
# The 1- and 5-patient runs plan for themselves: they show what the plan's remote
# tokens do as the corpus grows.
set -euo pipefail

OUT="${OUT:-evals/results/extract}"
MINIONS="${MINIONS:-minions}"
PYTHON="${PYTHON:-python}"
PAIR=(--local llamacpp:qwen2.5-coder-0.5b --remote llamacpp:qwen2.5-coder-1.5b
      --price-as openai:gpt-4o)

gold() {  # gold DATASET NAME [--patients N]
  # the manifests hold the records' text: rebuilt from ../shared, not committed
  [ -f "$OUT/gold/$2/gold.jsonl" ] && [ -f "$OUT/gold/$2/manifest_questions.jsonl" ] || $PYTHON -m minions.evals.extract_gold "$1" --out "$OUT/gold/$2" "${@:3}"
}
fields() {  # the --field arguments of a gold folder
  while IFS= read -r line; do printf -- '--field\0%s\0' "$line"; done < "$1/fields.txt"
}
extract() {  # extract GOLD RUN [extra options]
  mapfile -d '' -t args < <(fields "$OUT/gold/$1")
  $MINIONS extract --manifest "$OUT/gold/$1/manifest.jsonl" "${args[@]}" "${PAIR[@]}" \
    --out "$OUT/runs/$2" "${@:3}"
}

gold medical medical
gold medical medical-5 --patients 5
gold medical medical-1 --patients 1
gold financebench financebench

extract medical medical-14
extract medical-5 medical-5
extract medical-1 medical-1
extract medical medical-14-synth --synthesize
extract medical-5 medical-5-synth --synthesize
extract medical-1 medical-1-synth --synthesize
extract financebench financebench
extract financebench financebench-synth --synthesize

# the same cells as questions, one MinionS run each, reading as many chunks as extract
# does per field (retrieval_top_k=3, one task, one round, the JSON plan); FinanceBench's
# ten cells first, then the medical set's 56 (about 1.5 minutes a cell on 2 cores)
for name in financebench medical; do
  $MINIONS batch --manifest "$OUT/gold/$name/manifest_questions.jsonl" --protocol minions \
    -o plan=json -o max_rounds=1 -o num_tasks_per_round=1 -o retrieval_top_k=3 "${PAIR[@]}" \
    --out "$OUT/runs/$name-batch"
done

$PYTHON -m minions.evals.extract_report "$OUT/gold/medical" "$OUT/runs/medical-1" \
  "$OUT/runs/medical-5" "$OUT/runs/medical-14" "$OUT/runs/medical-1-synth" \
  "$OUT/runs/medical-5-synth" "$OUT/runs/medical-14-synth" \
  --batch "$OUT/runs/medical-batch" --out "$OUT/medical.md"
$PYTHON -m minions.evals.extract_report "$OUT/gold/financebench" "$OUT/runs/financebench" \
  "$OUT/runs/financebench-synth" --batch "$OUT/runs/financebench-batch" --out "$OUT/financebench.md"
