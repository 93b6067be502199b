"""Provisioned concurrency's pure parts: how an alias's environments are split between its
versions, and the LastModified format."""

from __future__ import annotations

from cloudlet.services.lambda_.provisioned import last_modified, split


def test_an_alias_without_routing_gets_all_environments_on_its_version():
    assert split(3, "2", None) == {"2": 3}


def test_a_weighted_alias_splits_them_by_weight_rounded_the_primary_taking_the_rest():
    assert split(10, "1", {"2": 0.3}) == {"1": 7, "2": 3}
    assert split(1, "1", {"2": 0.1}) == {"1": 1}
    assert split(2, "1", {"2": 0.75}) == {"2": 2}  # a version with none is left out


def test_last_modified_is_written_as_aws_writes_it():
    assert last_modified(1574364732.25) == "2019-11-21T19:32:12+0000"
