# The MPI library's own mpiexec inside the allocation (it reads the task count and nodes
# from Slurm).
{{mpiexec}} "${COMMSCALE[@]}" run "${RUN_ARGS[@]}" --nodes "$NODES" --out "$RUN"
