"""The memory a run may use: the tightest cgroup limit on the process's own cgroup or a
parent (v2 and v1), the machine's memory without one, the plan's blocks under it and the
one-line refusal when nothing fits; and a saved model's config read without its ranker.
Fake ``/proc/self/cgroup`` files and cgroup mounts on ``tmp_path``."""

from pathlib import Path

import pytest

from matching import data
from matching.config import load_config
from matching.data import memory
from matching.data.memory import CgroupLimit
from matching.data.models import saved_config
from matching.errors import DataError, InsufficientMemory

GIB = 2**30
OWN = "/system.slice/run-u12.service"
MEMINFO_BYTES = 64 * GIB
V1_UNLIMITED = 9223372036854771712


def _v2(folder: Path, limit, usage: int, cache: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.max").write_text(f"{limit}\n")
    (folder / "memory.current").write_text(f"{usage}\n")
    (folder / "memory.stat").write_text(f"anon {usage}\ninactive_file {cache}\n")


def _v1(folder: Path, limit: int, usage: int, cache: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (folder / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (folder / "memory.stat").write_text(
        f"cache {cache}\ninactive_file {cache}\ntotal_inactive_file {cache}\n"
    )


@pytest.fixture
def tree(tmp_path):
    """A v2 host: the process in ``OWN``, nothing limited anywhere (the root has no files)."""
    proc = tmp_path / "cgroup"
    proc.write_text(f"0::{OWN}\n")
    mount = tmp_path / "fs"
    _v2(mount / "system.slice", "max", 6 * GIB)
    _v2(mount / OWN.lstrip("/"), "max", GIB)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemTotal: 99999999 kB\nMemAvailable: {MEMINFO_BYTES // 1024} kB\n")
    return proc, mount, meminfo


@pytest.fixture
def patched(tree, monkeypatch):
    """The fake tree in place of the machine's, for the functions that take no paths."""
    proc, mount, meminfo = tree
    monkeypatch.setattr(memory, "PROC_CGROUP", proc)
    monkeypatch.setattr(memory, "CGROUP_MOUNT", mount)
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    return tree


def test_a_limit_on_the_process_own_cgroup_is_seen_not_only_the_roots(tree):
    proc, mount, meminfo = tree
    _v2(mount / OWN.lstrip("/"), 3 * GIB, GIB, cache=GIB // 4)
    free = 2 * GIB + GIB // 4
    assert memory.cgroup_limit(proc, mount) == CgroupLimit(3 * GIB, free, OWN)
    assert memory.available_memory(proc, mount, meminfo) == free
    assert memory.cgroup_headroom(mount) is None  # the root alone shows no limit


def test_a_limit_on_a_parent_binds_its_children(tree):
    proc, mount, meminfo = tree
    _v2(mount / "system.slice", 4 * GIB, 3 * GIB)
    assert memory.cgroup_limit(proc, mount) == CgroupLimit(4 * GIB, GIB, "/system.slice")
    assert memory.available_memory(proc, mount, meminfo) == GIB


def test_the_tightest_limit_is_the_one_with_the_least_free(tree):
    """A small limit on the own cgroup with room left loses to a larger one on a parent
    that its siblings have nearly filled."""
    proc, mount, meminfo = tree
    _v2(mount / OWN.lstrip("/"), 3 * GIB, GIB)
    _v2(mount / "system.slice", 8 * GIB, 7 * GIB)
    assert memory.cgroup_limit(proc, mount) == CgroupLimit(8 * GIB, GIB, "/system.slice")
    _v2(mount / "system.slice", 8 * GIB, 2 * GIB)
    assert memory.cgroup_limit(proc, mount) == CgroupLimit(3 * GIB, 2 * GIB, OWN)


@pytest.mark.parametrize("controllers", ["memory", "cpu,memory"])
def test_a_v1_memory_cgroup_is_read_under_the_memory_mount(tmp_path, controllers):
    proc = tmp_path / "cgroup"
    proc.write_text(f"5:cpu,cpuacct:/\n4:{controllers}:/docker/abc\n1:name=systemd:/\n0::/\n")
    mount = tmp_path / "fs"
    _v1(mount / "memory", V1_UNLIMITED, 9 * GIB)
    _v1(mount / "memory" / "docker", V1_UNLIMITED, 5 * GIB)
    _v1(mount / "memory" / "docker" / "abc", 2 * GIB, GIB + GIB // 2, cache=GIB // 2)
    assert memory.cgroup_limit(proc, mount) == CgroupLimit(2 * GIB, GIB, "/docker/abc")
    _v1(mount / "memory" / "docker", 3 * GIB, 2 * GIB + GIB // 2)
    assert memory.cgroup_limit(proc, mount) == CgroupLimit(3 * GIB, GIB // 2, "/docker")


def test_an_unlimited_tree_leaves_the_machines_memory(tree, tmp_path):
    proc, mount, meminfo = tree
    assert memory.cgroup_limit(proc, mount) is None
    assert memory.available_memory(proc, mount, meminfo) == MEMINFO_BYTES
    v1 = tmp_path / "v1"
    _v1(v1 / "memory", V1_UNLIMITED, GIB)
    assert memory.cgroup_limit(tmp_path / "none", v1) is None
    assert memory.cgroup_headroom(v1) is None


def test_without_the_process_cgroup_the_root_limit_holds(tree, tmp_path):
    """Inside a container the cgroup namespace puts the own cgroup at the mount's root; an
    unreadable /proc/self/cgroup, or a cgroup the mount does not hold, leaves the root's."""
    proc, mount, meminfo = tree
    _v2(mount, 2 * GIB, GIB)
    root = CgroupLimit(2 * GIB, GIB, "/")
    assert memory.cgroup_limit(tmp_path / "no-such-file", mount) == root
    assert memory.available_memory(tmp_path / "no-such-file", mount, meminfo) == GIB
    assert memory.cgroup_headroom(mount) == GIB
    proc.write_text("0::/docker/not-under-this-mount\n")
    assert memory.cgroup_limit(proc, mount) == root
    proc.write_text("0::/\n")
    assert memory.cgroup_limit(proc, mount) == root
    proc.write_text("0::/../../escape\n")
    assert memory.cgroup_limit(proc, mount) == root
    proc.write_bytes(b"\xff\xfe garbage")
    assert memory.cgroup_limit(proc, mount) == root


def test_unreadable_limit_files_are_no_limit(tree):
    proc, mount, meminfo = tree
    own = mount / OWN.lstrip("/")
    _v2(own, 3 * GIB, GIB)
    (own / "memory.current").write_text("not a number\n")
    assert memory.cgroup_limit(proc, mount) is None
    _v2(own, "garbage", GIB)
    assert memory.cgroup_limit(proc, mount) is None
    _v2(own, 3 * GIB, GIB)
    (own / "memory.stat").unlink()  # no page cache counted back
    assert memory.cgroup_limit(proc, mount) == CgroupLimit(3 * GIB, 2 * GIB, OWN)
    assert memory.available_memory(proc, mount, meminfo.parent / "nothing") <= 2 * GIB


SIZES = {
    "merchants": data.TableSize(1_000, 9),
    "creators": data.TableSize(100_000, 9),
    "collaborations": data.TableSize(10_000, 8),
}
EXACT = load_config().candidates.model_copy(update={"search": "exact"})


def test_the_plan_streams_in_smaller_blocks_under_the_own_cgroups_limit(patched, caplog):
    proc, mount, meminfo = patched
    need = memory.estimate(SIZES, EXACT)
    assert memory.plan_blocks(SIZES, EXACT) == memory.RECOMMEND_BLOCK
    _v2(mount / OWN.lstrip("/"), 3 * GIB, GIB)
    block = memory.plan_blocks(SIZES, EXACT)
    assert block == (int(2 * GIB * memory.HEADROOM) - need.fixed) // need.per_merchant
    assert 1 <= block < memory.RECOMMEND_BLOCK
    assert f"the cgroup {OWN} allows 3.0 GB, 2.0 GB free" in caplog.text


def test_a_limit_too_small_for_any_plan_is_one_line_naming_estimate_and_limit(patched):
    proc, mount, meminfo = patched
    _v2(mount / "system.slice", GIB // 2, GIB // 4)
    need = memory.estimate(SIZES, EXACT).peak(1)
    assert need > GIB // 4 * memory.HEADROOM
    with pytest.raises(InsufficientMemory) as info:
        memory.plan_blocks(SIZES, EXACT)
    message = str(info.value)
    assert "\n" not in message
    assert f"need an estimated {need / GIB:.1f} GB" in message
    assert "0.2 GB is available" in message
    assert "the cgroup /system.slice allows 0.5 GB, 0.2 GB free" in message


def test_the_refusal_without_a_cgroup_limit_says_so(patched, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 200 * 2**20)
    with pytest.raises(InsufficientMemory, match="0.2 GB is available.*no cgroup memory limit"):
        memory.plan_blocks(SIZES, EXACT)


def test_the_saved_config_is_read_without_the_ranker(tmp_path):
    cfg = load_config().replace(candidates={"top_n": 77})
    data.save_model({"not": "a ranker"}, tmp_path / "m", cfg, {"auc": 0.5})
    assert saved_config(tmp_path / "m") == cfg
    assert data.load_model(tmp_path / "m").config == cfg
    (tmp_path / "m" / data.MODEL_FILE).write_bytes(b"not a pickle")
    assert saved_config(tmp_path / "m").candidates.top_n == 77
    with pytest.raises(DataError, match="do not match the hashes"):
        data.load_model(tmp_path / "m")


def test_the_saved_config_refuses_what_load_model_refuses(tmp_path):
    with pytest.raises(DataError, match="model directory not found"):
        saved_config(tmp_path / "nothing")
    with pytest.raises(DataError, match="not a model directory"):
        saved_config(tmp_path)
    data.save_model({}, tmp_path / "m", load_config(), {})
    meta = tmp_path / "m" / data.MODEL_META
    meta.write_text(meta.read_text().replace('"top_n": ', '"top_n": 1'))
    with pytest.raises(DataError, match="checksum"):
        saved_config(tmp_path / "m")
