#!/usr/bin/env bash
# Set up (scripts/setup.sh), train small models on the bundled sample text and score it.
# Output goes to ${1:-demo-out}/.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/demo-out}")
bash "$ROOT/scripts/setup.sh"
W="${WINNOW_VENV:-$ROOT/.venv}/bin/winnow"
SAMPLE=$ROOT/tests/fixtures/text
MODELS=$OUT/models
mkdir -p "$OUT"
for lang in en de fr; do
  "$W" train tokenizer --lang $lang --input "$SAMPLE"/${lang}_*.txt --models "$MODELS" --vocab-size 300
  "$W" train kenlm --lang $lang --role clean --input "$SAMPLE/${lang}_clean.txt" --models "$MODELS" --order 3 --memory 256M
done
"$W" train kenlm --lang en --role harmful --input "$SAMPLE/en_harmful.txt" --models "$MODELS" --order 3 --memory 256M
"$W" models "$MODELS"
cat "$SAMPLE"/*.txt > "$OUT/sample.txt"
"$W" score --models "$MODELS" --input "$OUT/sample.txt" --output "$OUT/scores.jsonl"
echo
echo "models: $MODELS"
echo "scores: $OUT/scores.jsonl (one JSON line per document: language, perplexities, log-ratio)"
