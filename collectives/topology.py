"""What a node is made of, as meta.json records it: GPUs with their NVLink links (NVML
through nvidia-ml-py), their PCIe generation and width (sysfs, and NVML where it loads),
`nvidia-smi topo -m`, and the InfiniBand and Ethernet NICs with their rates (sysfs).

A piece that cannot be read is left null and its reason is kept under "absent": nothing
is guessed. `detect(root)` reads sysfs under `root` ("/" on a real node).
"""
from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

NVIDIA_VENDOR = "0x10de"
_GPU_CLASSES = ("0x0300", "0x0302")  # VGA and 3D controllers


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def pcie_gpus(root: Path) -> list[dict]:
    """NVIDIA display/3D PCI functions with their link speed and width, from sysfs."""
    gpus = []
    for dev in sorted((root / "sys/bus/pci/devices").glob("*")):
        if _read(dev / "vendor") != NVIDIA_VENDOR or not (_read(dev / "class") or "").startswith(_GPU_CLASSES):
            continue
        gpus.append({"pci_bus_id": dev.name, "link_speed": _read(dev / "current_link_speed"),
                     "link_width": _int(_read(dev / "current_link_width")),
                     "max_link_speed": _read(dev / "max_link_speed"),
                     "max_link_width": _int(_read(dev / "max_link_width")),
                     "numa_node": _int(_read(dev / "numa_node"))})
    return gpus


def infiniband(root: Path) -> list[dict]:
    """Every port of every RDMA device: rate ('200 Gb/sec (4X HDR)'), state, link layer."""
    ports = []
    for dev in sorted((root / "sys/class/infiniband").glob("*")):
        for port in sorted((dev / "ports").glob("*")):
            ports.append({"device": dev.name, "port": _int(port.name), "rate": _read(port / "rate"),
                          "state": _read(port / "state"), "link_layer": _read(port / "link_layer")})
    return ports


def net_interfaces(root: Path) -> list[dict]:
    """Network interfaces but loopback: speed in Mb/s (null where the driver reports none),
    state, MTU, and whether a physical device backs it."""
    nics = []
    for nic in sorted((root / "sys/class/net").glob("*")):
        if nic.name == "lo":
            continue
        speed = _int(_read(nic / "speed"))
        driver = (nic / "device" / "driver")
        nics.append({"name": nic.name, "speed_mbps": speed if speed and speed > 0 else None,
                     "state": _read(nic / "operstate"), "mtu": _int(_read(nic / "mtu")),
                     "physical": (nic / "device").exists(),
                     "driver": driver.resolve().name if driver.exists() else None})
    return nics


def _start_nvml():
    """(pynvml, None) with NVML started, or (None, why not): the caller shuts NVML down."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return None, f"NVML did not start ({exc}): no NVIDIA driver here"
    return pynvml, None


def nvml_gpus() -> tuple[list[dict] | None, str | None]:
    """(GPUs with NVLink links and PCIe as NVML reports them, None) or (None, why not)."""
    pynvml, why = _start_nvml()
    if why:
        return None, why
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            gpu = {"index": i, "name": name.decode() if isinstance(name, bytes) else name,
                   "pci_bus_id": _text(pynvml.nvmlDeviceGetPciInfo(h).busId)}
            for field, call in (("pcie_gen", "nvmlDeviceGetCurrPcieLinkGeneration"),
                                ("pcie_width", "nvmlDeviceGetCurrPcieLinkWidth"),
                                ("pcie_gen_max", "nvmlDeviceGetMaxPcieLinkGeneration"),
                                ("pcie_width_max", "nvmlDeviceGetMaxPcieLinkWidth")):
                try:
                    gpu[field] = getattr(pynvml, call)(h)
                except pynvml.NVMLError:
                    gpu[field] = None
            gpu["nvlink"] = _nvlinks(pynvml, h)
            gpu["nvlink_active"] = sum(1 for link in gpu["nvlink"] if link["active"])
            gpus.append(gpu)
        return gpus, None
    finally:
        pynvml.nvmlShutdown()


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvlinks(pynvml, handle) -> list[dict]:
    """Each NVLink link the GPU has: active or not, and the PCI bus id at its other end."""
    links = []
    for link in range(getattr(pynvml, "NVML_NVLINK_MAX_LINKS", 18)):
        try:
            active = bool(pynvml.nvmlDeviceGetNvLinkState(handle, link))
        except pynvml.NVMLError:  # NotSupported / InvalidArgument: no such link
            break
        remote = None
        if active:
            try:
                remote = _text(pynvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link).busId)
            except pynvml.NVMLError:
                pass
        links.append({"link": link, "active": active, "remote_pci_bus_id": remote})
    return links


def nvidia_smi_topo() -> tuple[str | None, str | None]:
    """(`nvidia-smi topo -m` output, None) or (None, why not)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None, "nvidia-smi is not on PATH"
    try:
        done = subprocess.run([exe, "topo", "-m"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return None, "nvidia-smi topo -m did not answer in 30 s"
    if done.returncode:
        return None, f"nvidia-smi topo -m failed: {(done.stderr or done.stdout).strip()[:200]}"
    return done.stdout.rstrip(), None


def detect(root: Path | str = "/") -> dict:
    """This node's topology; pieces not found are null, with the reason under "absent"."""
    root = Path(root)
    found = {
        "gpus": nvml_gpus(),
        "gpu_pcie": _or_why(pcie_gpus(root), f"no NVIDIA GPU among the PCI devices in {root / 'sys/bus/pci/devices'}"),
        "nvidia_smi_topo": nvidia_smi_topo(),
        "infiniband": _or_why(infiniband(root), f"no RDMA device in {root / 'sys/class/infiniband'}"),
        "net": _or_why(net_interfaces(root), f"no network interface but loopback in {root / 'sys/class/net'}"),
    }
    topo = {piece: value for piece, (value, _) in found.items()}
    topo["absent"] = {piece: why for piece, (_, why) in found.items() if why}
    return topo


def _or_why(found: list, why: str) -> tuple[list | None, str | None]:
    """(what sysfs listed, None), or (None, why) where it listed nothing."""
    return (found, None) if found else (None, why)


FABRIC_STATE_COMPLETED = 3
"""NVML_GPU_FABRIC_STATE_COMPLETED: the GPU has registered with the NVLink fabric manager."""


def nvml_fabric_domain(index: int = 0) -> tuple[str | None, str | None]:
    """(the NVLink domain of GPU `index`, None) or (None, why not). GPUs of one multi-node
    NVLink domain (a GB200/GB300 NVL72 rack) share the fabric's cluster UUID and clique id
    (NVML's nvmlDeviceGetGpuFabricInfo); the domain is named "<cluster uuid>/<clique id>".
    A GPU outside such a fabric (NVLink inside the node only) reports none."""
    pynvml, why = _start_nvml()
    if why:
        return None, why
    try:
        info = pynvml.c_nvmlGpuFabricInfo_t()
        pynvml.nvmlDeviceGetGpuFabricInfo(pynvml.nvmlDeviceGetHandleByIndex(index), ctypes.byref(info))
    except (pynvml.NVMLError, AttributeError) as exc:  # NotSupported: no multi-node NVLink; old bindings
        return None, f"GPU {index} reports no NVLink fabric ({exc})"
    finally:
        pynvml.nvmlShutdown()
    uuid = bytes(info.clusterUuid).hex() if not isinstance(info.clusterUuid, str) else info.clusterUuid
    if info.state != FABRIC_STATE_COMPLETED or info.status != 0 or not uuid.strip("0"):
        return None, f"GPU {index} is not registered with an NVLink fabric (state {info.state}, status {info.status})"
    return f"{uuid}/{info.cliqueId}", None
