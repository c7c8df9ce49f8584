"""torch.distributed backend: nccl on GPUs, gloo on CPU.

Timing: on CPU a monotonic host clock around each blocking call; on GPU a pair of CUDA
events around each launch on the current stream (device time, no host overhead), read after
one synchronize. CUDA-graph mode captures `GRAPH_CALLS` calls in one graph and times each
replay, dividing by the calls in it: what is left is the collective without launch cost.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from ..clocks import no_beat, time_cuda_events, time_host_calls
from ..launch import LaunchEnv
from .base import BackendOptions

GRAPH_CALLS = 10
_OPS = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}

# torch >= 2.10 names the flat-tensor gather/scatter *_single; older releases *_tensor.
_all_gather_flat = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
_reduce_scatter_flat = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor


def _all_reduce(send, recv, group, op, root):
    dist.all_reduce(recv, op=_OPS[op], group=group)


def _all_gather(send, recv, group, op, root):
    _all_gather_flat(recv, send, group=group)


def _reduce_scatter(send, recv, group, op, root):
    _reduce_scatter_flat(recv, send, op=_OPS[op], group=group)


def _all_to_all(send, recv, group, op, root):
    dist.all_to_all_single(recv, send, group=group)


def _broadcast(send, recv, group, op, root):
    dist.broadcast(recv, src=dist.get_global_rank(group, root), group=group)


def _reduce(send, recv, group, op, root):
    dist.reduce(recv, dst=dist.get_global_rank(group, root), op=_OPS[op], group=group)


def _sendrecv(send, recv, group, op, root):
    me, p = dist.get_rank(group), dist.get_world_size(group)
    ops = [
        dist.P2POp(dist.isend, send, dist.get_global_rank(group, (me + 1) % p), group),
        dist.P2POp(dist.irecv, recv, dist.get_global_rank(group, (me - 1) % p), group),
    ]
    for work in dist.batch_isend_irecv(ops):
        work.wait()


_CALLS = {
    "all_reduce": _all_reduce, "all_gather": _all_gather, "reduce_scatter": _reduce_scatter,
    "all_to_all": _all_to_all, "broadcast": _broadcast, "reduce": _reduce, "sendrecv": _sendrecv,
}


def _gloo_on_loopback_if_unresolvable(launch: LaunchEnv) -> None:
    """Gloo binds to the address this host's name resolves to; where it resolves to none it
    warns once per rank (c10d, in C++) and falls back to loopback. Where every rank is on
    this host (the master on a loopback address: the dry run), commscale binds gloo to
    loopback itself, and rank 0 says so once, in its own words."""
    import socket
    if "GLOO_SOCKET_IFNAME" in os.environ or not launch.master_addr.startswith(("127.", "localhost")):
        return
    host = socket.gethostname()
    try:
        socket.getaddrinfo(host, None)
        return
    except OSError:
        pass
    loopback = next((name for _, name in socket.if_nameindex() if name.startswith("lo")), "lo")
    os.environ["GLOO_SOCKET_IFNAME"] = loopback
    if launch.rank == 0:
        print(f"commscale: this host's name {host!r} resolves to no address: gloo binds to {loopback} "
              f"(every rank is on this host; set GLOO_SOCKET_IFNAME to choose)", file=sys.stderr, flush=True)


class TorchDistBackend:
    """One process's view of a torch.distributed launch."""

    # dist.all_reduce/broadcast/reduce take one tensor that is both input and output.
    in_place_only = frozenset({"all_reduce", "broadcast", "reduce"})
    out_of_place_only = frozenset()

    def __init__(self, name: str, launch: LaunchEnv, options: BackendOptions):
        self.name = name
        self.rank = launch.rank
        self.world_size = launch.world_size
        self.options = options
        kwargs = {}
        if name == "nccl":
            torch.cuda.set_device(launch.local_rank)
            self.device = "cuda"
            kwargs["device_id"] = torch.device("cuda", launch.local_rank)
        else:
            self.device = "cpu"
            _gloo_on_loopback_if_unresolvable(launch)
        dist.init_process_group(
            name, init_method=f"tcp://{launch.master_addr}:{launch.master_port}",
            rank=launch.rank, world_size=launch.world_size,
            timeout=timedelta(seconds=options.timeout_s), **kwargs,
        )
        self._world = dist.group.WORLD

    # --- collectives -------------------------------------------------------------------
    def call_for(self, collective):
        return _CALLS.get(collective)

    def make_buffer(self, values, dtype):
        return torch.from_numpy(np.asarray(values)).to(device=self.device, dtype=getattr(torch, dtype))

    def to_numpy(self, buffer):
        return buffer.detach().to("cpu", torch.float64).numpy()

    def new_group(self, ranks):
        if len(ranks) == self.world_size:
            return self._world
        return dist.new_group(ranks=list(ranks))

    # --- timing ------------------------------------------------------------------------
    def synchronize(self):
        if self.device == "cuda":
            torch.cuda.synchronize()

    def time_calls(self, fn, iters, beat=no_beat):
        if self.device == "cpu":
            return time_host_calls(fn, iters, time.perf_counter_ns, 1e3, beat)
        if self.options.cuda_graph:
            return self._time_graph(fn, iters, beat)
        return time_cuda_events(fn, iters, beat)

    def _time_graph(self, fn, iters, beat):
        graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            with torch.cuda.graph(graph, stream=stream):
                for _ in range(GRAPH_CALLS):
                    fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph.replay()  # first replay uploads the graph; not timed
        torch.cuda.synchronize()
        return time_cuda_events(graph.replay, iters, beat) / GRAPH_CALLS

    # --- agreement between ranks (outside timed regions) ------------------------------
    def _reduce_vector(self, values, group, op, dtype):
        t = torch.as_tensor(np.asarray(values), dtype=dtype, device=self.device)
        dist.all_reduce(t, op=op, group=group)
        return t.cpu().numpy()

    def max_over(self, values, group):
        return self._reduce_vector(values, group, dist.ReduceOp.MAX, torch.float64)

    def sum_over(self, values, group):
        return self._reduce_vector(values, group, dist.ReduceOp.SUM, torch.int64)

    def barrier(self):
        # An all_reduce on the world group rather than dist.barrier(): nccl's barrier
        # guesses a device, and this works the same on every backend.
        self._reduce_vector([0], self._world, dist.ReduceOp.SUM, torch.int64)

    def all_gather_object(self, obj):
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj):
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    # --- description -------------------------------------------------------------------
    def fabric(self, nnodes):
        if self.name == "gloo":
            return "loopback" if nnodes == 1 else "net"
        return "auto"  # NCCL chooses NVLink, PCIe or the network itself

    def transport(self, nnodes):
        return "tcp" if self.name == "gloo" else None  # NCCL's is read from its log later

    def versions(self):
        v = {"torch": torch.__version__, "cuda": torch.version.cuda, "nccl": None, "gpus": []}
        if torch.cuda.is_available():
            v["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
            v["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return v

    def close(self):
        """Tear down after waiting for every rank, so none closes its connections while a
        peer still uses them."""
        if dist.is_initialized():
            self.barrier()
            dist.destroy_process_group()

    def abandon(self):
        """After a failure: leave without waiting for the peers (they may be elsewhere);
        torch.distributed cannot end them: the launcher or their own watchdogs do."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def abort(self, status: int):
        # torch.distributed cannot end its peers: the launcher does (torchrun, srun
        # --kill-on-bad-exit), or their own watchdogs.
        os._exit(status)


def create(name, launch: LaunchEnv, options):
    return TorchDistBackend(name, launch, options)


