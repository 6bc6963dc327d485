Feature: Placement across nodes: pin, prefer, avoid, fallback and load
  With both pools idle the tie-break on pool id would choose p1; each placement override below moves a task
  away from that choice, or refuses it as ORCH-4004 and ORCH-4010 say. Tasks that arrive together spread by
  load over the nodes.

  @ORCH-4004
  Scenario: A task pinned to a pool runs there although the tie-break would choose another
    Given a cluster of 2 nodes with 1 slot each
    When I run task "plain" without a session
    Then task "plain" ran on pool "p1"
    When every pool is idle
    And I run task "pinned" with placement "pin p2"
    Then task "pinned" ran on pool "p2"

  @ORCH-4004
  Scenario: A task that prefers a pool with a free slot runs there
    Given a cluster of 2 nodes with 1 slot each
    When I run task "preferring" with placement "prefer p2"
    Then task "preferring" ran on pool "p2"

  @ORCH-4004
  Scenario: A task that prefers a busy pool runs on another pool with a free slot
    Given a cluster of 2 nodes with 1 slot each
    When I submit the endless task "hog" with placement "pin p2"
    And I follow the events of task "hog"
    And task "hog" is streaming tokens on pool "p2"
    And I run task "preferring" with placement "prefer p2"
    Then task "preferring" ran on pool "p1"

  @ORCH-4004 @ORCH-4005
  Scenario: A task that prefers a partitioned pool falls back to another, unless fallback is off
    Given a cluster of 2 nodes with 1 slot each
    When node "n2" is partitioned and its pool has left placement
    And I run task "fallback" with placement "prefer p2"
    Then task "fallback" ran on pool "p1"
    When I submit task "strict" with placement "prefer p2, no fallback"
    Then the answer is HTTP 503
    And the refusal is the error envelope "POOL_UNAVAILABLE"
    And the refusal names pool "p2" and may be retried

  @ORCH-4004
  Scenario: A task that avoids a pool waits for another pool rather than use the free avoided one
    Given a cluster of 2 nodes with 1 slot each
    When I submit the endless task "hog" with placement "pin p2"
    And I follow the events of task "hog"
    And task "hog" is streaming tokens on pool "p2"
    And I submit task "avoiding" with placement "avoid p1"
    And I follow the events of task "avoiding"
    And I run task "plain" without a session
    Then task "plain" ran on pool "p1"
    And task "avoiding" is still queued
    When I cancel task "hog"
    Then task "avoiding" ends with "end" within 30 seconds
    And task "avoiding" ran on pool "p2"

  @ORCH-4004 @cloud
  Scenario: A task pinned to a pool nobody has is refused with 400
    Given a cluster of 2 nodes with 1 slot each
    When I submit task "lost" with placement "pin p9"
    Then the answer is HTTP 400
    And the refusal is the error envelope "INVALID_PARAMS"

  @ORCH-4004 @ORCH-4010
  Scenario: A task pinned to a partitioned pool is refused at once with a retriable 503 that names the pool
    Given a cluster of 2 nodes with 1 slot each
    When node "n2" is partitioned and its pool has left placement
    And I submit task "stranded" with placement "pin p2"
    Then the answer is HTTP 503
    And the refusal is the error envelope "POOL_UNAVAILABLE"
    And the refusal names pool "p2" and may be retried

  @ORCH-4004
  Scenario: Tasks that arrive together spread by load over both nodes
    Given a cluster of 2 nodes with 3 slots each
    When I submit the endless tasks "s1,s2,s3,s4"
    Then the tasks "s1,s2,s3,s4" stream tokens on pools "p1,p1,p2,p2" in some order
