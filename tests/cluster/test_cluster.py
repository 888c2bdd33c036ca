"""A three-node NATS cluster under a mixed burst: the events stream's leader SIGKILLed and brought
back, then (make chaos) the quorum lost. Every chaos invariant holds: each accepted job ends ready,
KIE sees at most one submission per job and no 429, the quota is exact, and no 5xx but a 503 is
answered, and only while the stream fails over.
"""

import pytest

from ..chaos.scenario import FAULTS, Fault, run_scenario
from .conftest import record
from .system import STREAM_REPLICAS, ClusterSystem

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.timeout(900)]

_BURST = FAULTS["kill-nats"].busy
SCENARIOS = {
    # The stream's leader dies mid-burst: a follower takes over; the node rejoins on its store.
    "kill-stream-leader": (Fault("kill-stream-leader", "nats", True, _BURST), 1),
    # The leader, then a second node: one of three left, no JetStream quorum. Requests are accepted
    # into the outbox or answered 503; one node back restores the quorum and every job completes.
    "lose-quorum": (Fault("lose-quorum", "nats", True, _BURST), 2),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_accepted_job_ends_ready_when_nats_nodes_die_under_a_burst(
    cluster_system: ClusterSystem, scenario: str
) -> None:
    fault, nodes = SCENARIOS[scenario]
    cluster_system.nodes_to_kill = nodes
    result = run_scenario(cluster_system, fault)
    record(result)
    print(result.row(), f"leader killed {cluster_system.leader_killed}, leader after {cluster_system.leader_after}")
    assert result.passed, f"{scenario} broke {len(result.violations)} invariant(s):\n- " + "\n- ".join(
        result.violations
    )
    # Replicas were not given up on: the stream is still R3, and every worker replica is ready again.
    for name in cluster_system.health_ports:
        readiness = cluster_system.readiness(name)
        assert readiness["http"] == 200, f"{name} not ready after the scenario: {readiness}"
    assert cluster_system.stream_replicas() == STREAM_REPLICAS
