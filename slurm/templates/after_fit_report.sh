# Fit and report whatever was measured, also after a stop or a failure (the job still
# ends with the sweep's status).
if [[ -s "$RUN/records.jsonl" ]]; then
    "${COMMSCALE[@]}" fit "$RUN" --out "$RUN" --force
    "${COMMSCALE[@]}" report "$RUN" --out "$OUT/report" --force
fi
