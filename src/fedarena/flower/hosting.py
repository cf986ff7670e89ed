"""Which SuperNode hosts which shoppers.

A SuperNode is started with ``--node-config "partition-id=p num-partitions=P"``
and hosts every shopper ``s`` with ``s mod P == p``: in simulation there is one
node per shopper (``P`` = number of shoppers); in a deployment a few nodes may
each host many shoppers, every one of them training on its own log with its
own private embedding. The server learns the layout by asking each node for
its node config once, before round 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fedarena.errors import FedarenaError

PARTITION_ID = "partition-id"
NUM_PARTITIONS = "num-partitions"


class MissingPartition(FedarenaError):
    """No SuperNode (yet) hosts some of the shoppers."""


@dataclass(frozen=True)
class Partition:
    """A node's share of the shoppers: those ``s`` with ``s mod num_partitions == partition_id``."""

    partition_id: int
    num_partitions: int

    def __post_init__(self) -> None:
        if self.num_partitions <= 0:
            raise FedarenaError(f"{NUM_PARTITIONS} must be > 0, got {self.num_partitions}")
        if not 0 <= self.partition_id < self.num_partitions:
            raise FedarenaError(
                f"{PARTITION_ID} must be in [0, {self.num_partitions}), got {self.partition_id}"
            )

    def hosts(self, shopper: int) -> bool:
        return shopper % self.num_partitions == self.partition_id

    @classmethod
    def from_node_config(cls, node_config: Mapping[str, Any]) -> Partition:
        """Read a SuperNode's ``--node-config``; a missing or non-integer key is an error."""
        values = []
        for key in (PARTITION_ID, NUM_PARTITIONS):
            value = node_config.get(key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise FedarenaError(
                    f"SuperNode --node-config needs integer {PARTITION_ID} and "
                    f"{NUM_PARTITIONS}, got {key}={value!r}"
                )
            values.append(value)
        return cls(*values)


def shopper_nodes(partitions: Mapping[int, Partition], n_shoppers: int) -> dict[int, int]:
    """Map each shopper to the id of the node hosting it.

    ``partitions`` maps node ids to their partitions. The nodes must agree on
    ``num-partitions`` and hold distinct partition ids; a shopper no node hosts
    raises ``MissingPartition`` naming the first missing partition.
    """
    sizes = {p.num_partitions for p in partitions.values()}
    if len(sizes) > 1:
        raise FedarenaError(f"SuperNodes disagree on {NUM_PARTITIONS}: {sorted(sizes)}")
    node_of_partition: dict[int, int] = {}
    for node, partition in sorted(partitions.items()):
        if partition.partition_id in node_of_partition:
            raise FedarenaError(
                f"SuperNodes {node_of_partition[partition.partition_id]} and {node} "
                f"both have {PARTITION_ID}={partition.partition_id}"
            )
        node_of_partition[partition.partition_id] = node
    size = sizes.pop() if sizes else 1
    missing = sorted({s % size for s in range(n_shoppers)} - set(node_of_partition))
    if missing:
        raise MissingPartition(
            f"no SuperNode has {PARTITION_ID}={missing[0]} ({len(missing)} of {size} "
            f"partitions missing), so some of the {n_shoppers} shoppers have no client"
        )
    return {s: node_of_partition[s % size] for s in range(n_shoppers)}
