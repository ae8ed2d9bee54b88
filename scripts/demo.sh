#!/usr/bin/env bash
# The main job on the bundled sample, from a fresh machine:
#   set up (scripts/setup.sh) -> train small models on sample/train -> winnow sample ->
#   winnow tune -> winnow report -> winnow run over the sample crawl (sample/web: JSONL +
#   WARC) with the learned thresholds -> summary and reports.
# Output goes to ${WINNOW_DEMO_OUT:-demo-out}/ (models/, run/); extra arguments go to winnow run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(realpath -m "${WINNOW_DEMO_OUT:-$ROOT/demo-out}")
bash "$ROOT/scripts/setup.sh"
W="${WINNOW_VENV:-$ROOT/.venv}/bin/winnow"
TRAIN=$ROOT/sample/train
MODELS=$OUT/models
mkdir -p "$OUT"
echo "== training models on $TRAIN"
for lang in en de fr es; do
  "$W" train tokenizer --lang $lang --input "$TRAIN"/${lang}_*.txt --models "$MODELS" --vocab-size 400 2>/dev/null
  "$W" train kenlm --lang $lang --role clean --input "$TRAIN/${lang}_clean.txt" --models "$MODELS" \
       --order 3 --memory 256M 2>/dev/null
done
"$W" train kenlm --lang en --role harmful --input "$TRAIN/en_harmful.txt" --models "$MODELS" --order 3 \
     --memory 256M 2>/dev/null
echo "== winnow sample: score a seeded sample of 200 documents"
# --overwrite: a rerun of the demo replaces what an earlier one (other models, say) wrote.
"$W" sample --input "$ROOT/sample/web/" --models "$MODELS" --n 200 --seed 1 --output "$OUT/sample" --overwrite
echo "== winnow tune: learn thresholds from it"
"$W" tune --scored "$OUT/sample" --models "$MODELS" --min-tokens 5 --output "$OUT/thresholds.json"
"$W" report --scored "$OUT/sample" --models "$MODELS" --thresholds "$OUT/thresholds.json" \
     --output "$OUT/sample-report.html"
echo "== winnow run with the learned thresholds"
"$W" run --input "$ROOT/sample/web/" --models "$MODELS" --thresholds "$OUT/thresholds.json" \
     --output "$OUT/run" --overwrite "$@"
echo
echo "models:      $MODELS"
echo "thresholds:  $OUT/thresholds.json (report: $OUT/sample-report.html)"
echo "shards:      $OUT/run/route=keep/lang=*/ $OUT/run/route=drop/lang=*/ (one table), dead letters $OUT/run/_rejected/"
echo "summary:     $OUT/run/_SUMMARY.json (report: $OUT/run/_REPORT.html)"
