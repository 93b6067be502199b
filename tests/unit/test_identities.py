"""Blocks of environment ids: one per cloudlet process, and what a dead owner left running under
its ids is killed when the block is claimed again."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from cloudlet.compute.identities import BASE, BLOCK, Identities, NoIdentities

# Ids of no real cloudlet process here: claiming a block kills what runs under its ids.
TEST_BASE = BASE + (1 << 29)


def claim(lock_dir):
    return Identities(lock_dir, base=TEST_BASE)


def test_two_processes_never_share_a_block(tmp_path):
    a = claim(tmp_path)
    b = claim(tmp_path)
    try:
        assert a.first != b.first and not a.owns(b.first) and not b.owns(a.first)
        first = a.next()
        assert a.next() == first + 1 and a.owns(first)
    finally:
        a.close()
        b.close()
    c = claim(tmp_path)  # a's block is free again
    assert c.first == a.first
    c.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can run a process under another id")
def test_a_leftover_under_a_freed_blocks_ids_dies_when_it_is_claimed_again(tmp_path):
    ids = claim(tmp_path)
    uid = ids.next() + BLOCK - 1
    ids.close()
    leftover = subprocess.Popen(["sleep", "60"], user=uid, group=uid, extra_groups=[])
    try:
        again = claim(tmp_path)
        again.close()
        deadline = time.monotonic() + 10
        while leftover.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert leftover.returncode == -9
    finally:
        leftover.kill()
        leftover.wait()


def test_an_id_held_by_a_live_environment_is_never_handed_out_again(tmp_path):
    """Ids go round the block, skipping those whose environments still live; with every id held
    there is none to give."""
    ids = Identities(tmp_path, base=TEST_BASE, block=4)
    try:
        first = [ids.next() for _ in range(4)]
        assert first == [ids.first + i for i in range(4)]
        ids.release(first[2])
        assert ids.next() == first[2]  # the only free one, however far round
        with pytest.raises(NoIdentities):
            ids.next()
        ids.release(first[0])
        ids.release(first[1])
        assert [ids.next(), ids.next()] == [first[0], first[1]]
    finally:
        ids.close()
