"""A real Slurm on this machine for tests: munged, slurmctld and K slurmd (emulated nodes
n1..nK on this host), started without systemd in a temporary directory and stopped by PID.

Needs Debian's `slurm-wlm` and `munge` and root (to run munged as the munge user and
slurmd as root). `SlurmCluster.unavailable()` says why it cannot run here, for a skip.

    with SlurmCluster(nodes=2, cpus_per_node=4) as slurm:
        slurm.run(["srun", "-N", "2", "hostname"])

`topology="SwitchName=s0 Nodes=n[1-2]\n..."` writes it as topology.conf beside slurm.conf and
sets TopologyPlugin=topology/tree (22.05 has no topology/block: that arrived in 23.11).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd", "srun", "sbatch", "scontrol")


def _free_ports(n: int) -> list[int]:
    """n distinct free TCP ports (held open together so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SlurmCluster:
    def __init__(self, nodes: int = 2, cpus_per_node: int = 4, topology: str | None = None):
        # Not pytest's tmp_path: munged runs as the munge user, who cannot enter root's 0700
        # pytest directories. A fresh 0755 directory under /tmp, removed by stop().
        self.dir = Path(tempfile.mkdtemp(prefix="commscale-slurm-"))
        self.dir.chmod(0o755)
        self.nodes = [f"n{i}" for i in range(1, nodes + 1)]
        self.cpus = cpus_per_node
        self.topology = topology
        self.procs: list[subprocess.Popen] = []
        self.conf = self.dir / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))

    @staticmethod
    def unavailable() -> str | None:
        missing = [d for d in DAEMONS if not (shutil.which(d) or Path("/usr/sbin", d).exists())]
        if missing:
            return f"Slurm/munge not installed ({', '.join(missing)}): apt-get install slurm-wlm munge"
        if os.geteuid() != 0:
            return "a test Slurm needs root (munged as the munge user, slurmd as root)"
        try:
            pwd.getpwnam("munge")
        except KeyError:
            return "no munge user: apt-get install munge"
        return None

    # --- start ------------------------------------------------------------------------
    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _start(self):
        munge = pwd.getpwnam("munge")
        mdir = self.dir / "munge"
        mdir.mkdir()
        mdir.chmod(0o755)  # munged: the socket directory must be enterable by all
        key = mdir / "munge.key"
        key.write_bytes(os.urandom(128))
        key.chmod(0o400)
        for path in (mdir, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        self.socket = mdir / "munge.sock"
        self._spawn([_daemon("munged"), "--foreground", f"--key-file={key}", f"--socket={self.socket}",
                     f"--pid-file={mdir}/munged.pid", f"--log-file={mdir}/munged.log", f"--seed-file={mdir}/munged.seed"],
                    "munged", user=munge.pw_uid, group=munge.pw_gid, extra_groups=[])
        self._wait_for(self.socket.exists, "munged socket")
        ctld_port, *node_ports = _free_ports(1 + len(self.nodes))
        self.conf.write_text(self._config(ctld_port, node_ports))
        if self.topology is not None:
            (self.dir / "topology.conf").write_text(self.topology)
        (self.dir / "state").mkdir()
        self._spawn([_daemon("slurmctld"), "-D", "-f", str(self.conf)], "slurmctld")
        self._wait_for(lambda: self.run(["scontrol", "ping"], check=False).stdout.count("UP") >= 1, "slurmctld")
        for node in self.nodes:
            (self.dir / f"spool-{node}").mkdir()
            self._spawn([_daemon("slurmd"), "-D", "-N", node, "-f", str(self.conf)], f"slurmd-{node}")
        self._wait_for(self._nodes_idle, "slurmd nodes idle")

    def _config(self, ctld_port, node_ports) -> str:
        host = socket.gethostname()
        d = self.dir
        topology = "TopologyPlugin=topology/tree\n" if self.topology is not None else ""
        nodes = "\n".join(f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={p} CPUs={self.cpus} "
                          f"State=UNKNOWN" for n, p in zip(self.nodes, node_ports))
        return f"""\
ClusterName=commscale-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool-%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
InactiveLimit=0
KillWait=5
{topology}{nodes}
PartitionName=test Nodes={','.join(self.nodes)} Default=YES MaxTime=INFINITE State=UP
"""

    def _spawn(self, argv, name, **kwargs):
        with open(self.dir / f"{name}.out", "wb") as log:
            self.procs.append(subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True, **kwargs))

    def _wait_for(self, ready, what, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"a Slurm daemon exited while waiting for {what}: {dead[0].args[:2]}; "
                                   f"logs in {self.dir}:\n{self.logs()}")
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s; logs in {self.dir}:\n{self.logs()}")

    def _nodes_idle(self) -> bool:
        out = self.run(["sinfo", "-h", "-N", "-o", "%N %t"], check=False).stdout.split()
        states = dict(zip(out[::2], out[1::2]))
        return all(states.get(n, "").startswith("idle") for n in self.nodes)

    # --- use --------------------------------------------------------------------------
    def run(self, argv, check=True, timeout=120, env=None, **kwargs):
        result = subprocess.run(argv, env={**self.env, **(env or {})}, capture_output=True, text=True,
                                timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def logs(self, tail=20) -> str:
        parts = []
        for path in sorted(self.dir.glob("*.log")) + sorted(self.dir.glob("*.out")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(parts)

    # --- stop -------------------------------------------------------------------------
    def stop(self):
        """Stop the daemons this object started, by PID (slurmd first, munged last)."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


def _daemon(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"
