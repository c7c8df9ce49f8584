# torchrun per node, rendezvous on MASTER_ADDR if set, else the first node. torchrun itself
# ignores SIGUSR1 (its default would kill it); the ranks handle it and stop at a point boundary.
HEAD=${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}
srun --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c 'trap "" USR1; exec "$@"' torchrun \
    {{python}} -m torch.distributed.run --nnodes "$SLURM_JOB_NUM_NODES" --nproc-per-node {{ranks_per_node}} \
    --rdzv-backend c10d --rdzv-endpoint "$HEAD:{{port}}" --rdzv-id "$SLURM_JOB_ID" \
    -m benchmarks run "${RUN_ARGS[@]}" --nodes "$NODES" --out "$RUN"
