"""Which SuperNode hosts which shopper: s mod num-partitions == partition-id, checked."""

from __future__ import annotations

import pytest

from fedarena.errors import FedarenaError
from fedarena.flower.hosting import MissingPartition, Partition, shopper_nodes


def test_three_nodes_share_ten_shoppers_round_robin():
    nodes = {11: Partition(0, 3), 22: Partition(1, 3), 33: Partition(2, 3)}
    hosts = shopper_nodes(nodes, 10)
    assert hosts == {0: 11, 1: 22, 2: 33, 3: 11, 4: 22, 5: 33, 6: 11, 7: 22, 8: 33, 9: 11}
    for shopper, node in hosts.items():
        assert nodes[node].hosts(shopper)
        assert sum(p.hosts(shopper) for p in nodes.values()) == 1


def test_one_node_per_shopper_is_the_identity_on_partitions():
    nodes = {100 + k: Partition(k, 5) for k in range(5)}
    assert shopper_nodes(nodes, 5) == {k: 100 + k for k in range(5)}


def test_a_missing_partition_is_named():
    with pytest.raises(MissingPartition, match="partition-id=1"):
        shopper_nodes({1: Partition(0, 3), 2: Partition(2, 3)}, 9)


def test_no_node_yet_is_a_missing_partition():
    with pytest.raises(MissingPartition):
        shopper_nodes({}, 4)


def test_nodes_that_disagree_on_the_number_of_partitions_are_an_error():
    with pytest.raises(FedarenaError, match="disagree on num-partitions"):
        shopper_nodes({1: Partition(0, 2), 2: Partition(1, 3)}, 6)


def test_two_nodes_with_one_partition_id_are_an_error():
    with pytest.raises(FedarenaError, match="both have partition-id=0"):
        shopper_nodes({1: Partition(0, 2), 2: Partition(0, 2)}, 6)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"num-partitions": 2}, "partition-id=None"),
        ({"partition-id": "0", "num-partitions": 2}, "partition-id='0'"),
        ({"partition-id": 0, "num-partitions": True}, "num-partitions=True"),
        ({"partition-id": 2, "num-partitions": 2}, r"partition-id must be in \[0, 2\)"),
        ({"partition-id": 0, "num-partitions": 0}, "num-partitions must be > 0"),
    ],
)
def test_bad_node_config_is_a_one_line_error(config, message):
    with pytest.raises(FedarenaError, match=message):
        Partition.from_node_config(config)
