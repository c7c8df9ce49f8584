"""Topology in meta.json (collectives/topology.py). This machine has no GPU and no
InfiniBand, so a sysfs tree under tmp_path stands in for a GPU node's (files laid out and
worded as Linux writes them); the real sysfs is read too, and what it lacks must be
recorded as absent, not guessed."""
import shutil

from collectives.topology import detect


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_a_gpu_node_sysfs_is_read(tmp_path):
    gpu = tmp_path / "sys/bus/pci/devices/0000:18:00.0"
    for name, text in [("vendor", "0x10de"), ("class", "0x030200"), ("current_link_speed", "32.0 GT/s PCIe"),
                       ("current_link_width", "16"), ("max_link_speed", "32.0 GT/s PCIe"), ("max_link_width", "16"),
                       ("numa_node", "0")]:
        _write(gpu / name, text)
    _write(tmp_path / "sys/bus/pci/devices/0000:00:1f.0/vendor", "0x8086")  # not a GPU
    port = tmp_path / "sys/class/infiniband/mlx5_0/ports/1"
    for name, text in [("rate", "400 Gb/sec (4X NDR)"), ("state", "4: ACTIVE"), ("link_layer", "InfiniBand")]:
        _write(port / name, text)
    nic = tmp_path / "sys/class/net/eth0"
    for name, text in [("speed", "100000"), ("operstate", "up"), ("mtu", "9000")]:
        _write(nic / name, text)
    _write(tmp_path / "sys/class/net/veth0/speed", "-1")  # no speed: recorded as null
    (tmp_path / "sys/class/net/lo").mkdir(parents=True)
    topo = detect(tmp_path)
    assert topo["gpu_pcie"] == [{"pci_bus_id": "0000:18:00.0", "link_speed": "32.0 GT/s PCIe", "link_width": 16,
                                 "max_link_speed": "32.0 GT/s PCIe", "max_link_width": 16, "numa_node": 0}]
    assert topo["infiniband"] == [{"device": "mlx5_0", "port": 1, "rate": "400 Gb/sec (4X NDR)",
                                   "state": "4: ACTIVE", "link_layer": "InfiniBand"}]
    assert [(n["name"], n["speed_mbps"], n["mtu"]) for n in topo["net"]] == [("eth0", 100000, 9000), ("veth0", None, None)]
    assert "gpu_pcie" not in topo["absent"] and "infiniband" not in topo["absent"]


def test_what_this_machine_lacks_is_absent_with_a_reason():
    topo = detect("/")
    for piece in ("gpus", "gpu_pcie", "nvidia_smi_topo", "infiniband", "net"):
        assert (topo[piece] is None) == (piece in topo["absent"]), piece
    if not shutil.which("nvidia-smi"):
        assert topo["nvidia_smi_topo"] is None and "not on PATH" in topo["absent"]["nvidia_smi_topo"]
    if topo["gpus"] is None:
        assert "nvidia-ml-py" in topo["absent"]["gpus"] or "NVML" in topo["absent"]["gpus"]
