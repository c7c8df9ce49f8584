# One task per rank (rank from SLURM_PROCID, MASTER_ADDR the step's first node); srun
# takes the node and task counts from the allocation.
srun --kill-on-bad-exit=1 "${COMMSCALE[@]}" run "${RUN_ARGS[@]}" --nodes "$NODES" --out "$RUN"
