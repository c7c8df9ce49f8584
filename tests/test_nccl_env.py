"""nccl_env (collectives/fabric.py): the variables set before NCCL starts are added to the
user's NCCL_* settings, never overwrite them, and say where the transport read-back finds
NCCL's debug log, or why it cannot. Pure functions: no GPU, no NCCL."""
from pathlib import Path

import pytest

from collectives.fabric import NCCL_PRESETS, FabricEnvError, NcclEnv, NcclLog, nccl_env

LOG = Path("/out/nccl/rank0.log")
DEBUG_ADDED = {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,P2P,NET", "NCCL_DEBUG_FILE": str(LOG)}


def env(environ, fabric="auto", host="gpu-06", pid=4242) -> NcclEnv:
    return nccl_env(fabric, LOG, environ, host=host, pid=pid)


def assert_check_off(result: NcclEnv, *words):
    assert result.log_path is None
    assert result.note and "\n" not in result.note and result.note.startswith("transport check off")
    for word in words:
        assert word in result.note, result.note


def test_without_nccl_settings_the_three_debug_variables_are_added():
    assert env({}) == NcclEnv(DEBUG_ADDED, LOG, None)
    assert env({}, fabric="pcie").set == {**NCCL_PRESETS["pcie"], **DEBUG_ADDED}


@pytest.mark.parametrize("level", ["TRACE", "INFO", "info"])
def test_a_loud_enough_nccl_debug_is_kept(level):
    result = env({"NCCL_DEBUG": level})
    assert result.set == {k: v for k, v in DEBUG_ADDED.items() if k != "NCCL_DEBUG"}
    assert (result.log_path, result.note) == (LOG, None)


@pytest.mark.parametrize("level", ["WARN", "VERSION", "NONE", ""])
def test_a_quieter_nccl_debug_is_kept_and_turns_the_check_off(level):
    result = env({"NCCL_DEBUG": level}, fabric="net")
    assert_check_off(result, f"NCCL_DEBUG={level} ", "NCCL_DEBUG=INFO")
    # the preset still applies; the debug variables would only move the user's own output
    assert result.set == NCCL_PRESETS["net"]


@pytest.mark.parametrize("subsys, lacking", [
    ("COLL", "INIT (or P2P, SHM, NET)"),
    ("P2P,SHM", "INIT (or NET)"),  # NET connection lines (logged as INIT|NET) would be missed
    ("P2P,NET", "INIT (or SHM)"),
    ("^INIT,NET", "INIT (or NET)"),
    ("P2P, SHM, NET", "INIT (or SHM, NET)"),  # NCCL does not strip the spaces: " SHM" is no name
])
def test_a_debug_subsys_that_hides_connection_lines_is_kept_and_turns_the_check_off(subsys, lacking):
    result = env({"NCCL_DEBUG_SUBSYS": subsys})
    assert_check_off(result, f"NCCL_DEBUG_SUBSYS={subsys} ", f"lacks {lacking}", "INIT")
    assert "NCCL_DEBUG_SUBSYS" not in result.set and result.set == {}


@pytest.mark.parametrize("subsys", ["ALL", "all", "INIT,COLL", "INIT,P2P", "P2P,SHM,NET", "^COLL", "^INIT"])
def test_a_debug_subsys_that_lets_connection_lines_through_is_kept_with_read_back(subsys):
    # NCCL logs each connection line under INIT and its transport (INIT|P2P, INIT|SHM, INIT|NET)
    result = env({"NCCL_DEBUG_SUBSYS": subsys})
    assert result.set == {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_FILE": str(LOG)}
    assert (result.log_path, result.note) == (LOG, None)


def test_the_users_debug_file_is_kept_and_read_back_from_its_expanded_path():
    result = env({"NCCL_DEBUG_FILE": "/x/nccl.%h.%p"}, host="node7", pid=31337)
    assert result.set == {"NCCL_DEBUG": "INFO", "NCCL_DEBUG_SUBSYS": "INIT,P2P,NET"}
    assert (result.log_path, result.note) == (Path("/x/nccl.node7.31337"), None)


@pytest.mark.parametrize("value, host, expanded", [
    ("/x/nccl.%h.%p", "node7.cluster.local", "/x/nccl.node7.4242"),  # %h: up to the first dot
    ("/x/%%h-%r-%p.log", "n", "/x/%h-%r-4242.log"),  # %% is one %, other %x stay as they are
    ("/x/%p/%h%h", "a%b/c", "/x/4242/a-b-ca-b-c"),  # NCCL makes % and / of the host name -
])
def test_the_debug_file_is_expanded_as_nccl_does(value, host, expanded):
    assert env({"NCCL_DEBUG_FILE": value}, host=host).log_path == Path(expanded)


@pytest.mark.parametrize("value, why", [
    ("/x/nccl.%h.log", "has no %p"),  # every rank of a host would write (and truncate) one file
    ("/x/nccl.%%p", "has no %p"),
    ("", "logs to stdout"),
    ("/x/nccl.%p.%", "lone %"),
])
def test_a_debug_file_the_read_back_cannot_use_is_kept_and_turns_the_check_off(value, why):
    result = env({"NCCL_DEBUG_FILE": value})
    assert_check_off(result, why)
    assert "NCCL_DEBUG_FILE" not in result.set


def test_every_reason_is_given_on_one_line():
    result = env({"NCCL_DEBUG": "WARN", "NCCL_DEBUG_SUBSYS": "COLL", "NCCL_DEBUG_FILE": "/x/a.log"})
    assert_check_off(result, "NCCL_DEBUG=WARN", "NCCL_DEBUG_SUBSYS=COLL", "NCCL_DEBUG_FILE=/x/a.log")


def test_a_percent_in_the_default_log_is_written_so_that_nccl_keeps_it():
    result = nccl_env("auto", Path("/runs/50%h/rank0.log"), {}, host="h", pid=1)
    assert result.set["NCCL_DEBUG_FILE"] == "/runs/50%%h/rank0.log"
    assert result.log_path == Path("/runs/50%h/rank0.log")


def test_a_preset_variable_set_to_another_value_is_a_one_line_error():
    with pytest.raises(FabricEnvError) as caught:
        env({"NCCL_P2P_DISABLE": "0"}, fabric="pcie")
    message = str(caught.value)
    assert isinstance(caught.value, ValueError) and "\n" not in message
    for part in ("NCCL_P2P_DISABLE=0", "--fabric pcie", "NCCL_P2P_DISABLE=1", "unset NCCL_P2P_DISABLE"):
        assert part in message, message
    with pytest.raises(FabricEnvError, match="NCCL_P2P_LEVEL=SYS.*needs NCCL_P2P_LEVEL=NVL"):
        env({"NCCL_P2P_LEVEL": "SYS", "NCCL_DEBUG": "INFO"}, fabric="nvlink")


@pytest.mark.parametrize("value", ["1", "01"])
def test_a_preset_variable_already_set_to_its_value_is_fine(value):
    result = env({"NCCL_P2P_DISABLE": value}, fabric="pcie")
    assert result.set == {**{k: v for k, v in NCCL_PRESETS["pcie"].items() if k != "NCCL_P2P_DISABLE"},
                          **DEBUG_ADDED}
    assert (result.log_path, result.note) == (LOG, None)


def test_other_variables_and_the_process_environment_are_left_alone(monkeypatch):
    monkeypatch.setenv("NCCL_DEBUG", "WARN")  # nccl_env reads only what it is given
    environ = {"NCCL_SOCKET_IFNAME": "eth0", "NCCL_DEBUG": "TRACE"}
    result = env(environ)
    assert environ == {"NCCL_SOCKET_IFNAME": "eth0", "NCCL_DEBUG": "TRACE"}
    assert result.note is None and "NCCL_SOCKET_IFNAME" not in result.set
    with pytest.raises(AttributeError):
        result.log_path = None  # frozen


def test_nccl_log_reads_the_file_nccl_writes_at_the_expanded_path(tmp_path):
    result = nccl_env("nvlink", tmp_path / "unused.log", {"NCCL_DEBUG_FILE": f"{tmp_path}/nccl.%h.%p.log"},
                      host="gpu-06.example.org", pid=4015539)
    assert result.log_path == tmp_path / "nccl.gpu-06.4015539.log"
    log = NcclLog(result.log_path)
    assert log.new_transports() == set()
    # what NCCL would write there: two connection lines in its format
    result.log_path.write_text(
        "gpu-06:4015539:4015652 [0] NCCL INFO Channel 00/0 : 0[0] -> 1[1] via P2P/CUMEM/read\n"
        "gpu-06:4015539:4015652 [0] NCCL INFO Channel 01/0 : 0[0] -> 2[0] [send] via NET/IB/3/GDRDMA\n")
    assert log.new_transports() == {"P2P/CUMEM", "NET/IB"}
    assert log.new_transports() == set()
