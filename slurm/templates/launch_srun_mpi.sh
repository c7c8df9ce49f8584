# MPI ranks started by srun through Slurm's PMI plugin (rank and world from MPI itself).
srun --mpi={{mpi}} --kill-on-bad-exit=1 "${COMMSCALE[@]}" run "${RUN_ARGS[@]}" --nodes "$NODES" --out "$RUN"
