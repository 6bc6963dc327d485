Feature: Network faults between orchestratord and a node
  A node that stops answering — its link down, its packets silently dropped, or its pool-managerd hung with
  SIGSTOP — leaves placement within one poll interval plus the request timeout (CLOUD-0007; the margin below is
  for scheduling on a busy 2-core machine), new tasks go to the other node, and the node is placeable again after
  it heals. Work on the node when it fails ends with exactly one terminal event; work queued for it waits for it,
  at most ORCHD_POOL_WAIT_MS.

  @CLOUD-0007 @ORCH-4005 @ORCH-4004
  Scenario: A node whose link goes down leaves placement, its work goes to the other node, and it is back after heal
    Given a cluster of 2 nodes with 1 slot each
    When node "n1" loses its link
    Then pool "p1" leaves placement within one poll interval plus the request timeout plus 1500 ms
    And 3 new tasks in a row run on pool "p2"
    When node "n1" heals
    Then pool "p1" is placeable again within 10 seconds

  @CLOUD-0007 @ORCH-4005 @ORCH-4004
  Scenario: A node that silently drops every packet leaves placement by the request timeout and is back after heal
    Given a cluster of 2 nodes with 1 slot each
    When node "n1" drops every packet
    Then pool "p1" leaves placement within one poll interval plus the request timeout plus 1500 ms
    And 3 new tasks in a row run on pool "p2"
    When node "n1" heals
    Then pool "p1" is placeable again within 10 seconds

  @CLOUD-0007 @ORCH-4005 @ORCH-4004
  Scenario: A hung pool-managerd leaves placement, its work goes elsewhere, and it is back after SIGCONT
    Given a cluster of 2 nodes with 1 slot each
    When the pool-managerd of node "n1" hangs
    Then pool "p1" leaves placement within one poll interval plus the request timeout plus 1500 ms
    And 3 new tasks in a row run on pool "p2"
    When the pool-managerd of node "n1" resumes
    Then pool "p1" is placeable again within 10 seconds

  @ORCH-4005 @CLOUD-0007
  Scenario: While one node drops every packet, orchestratord keeps polling the other node every poll interval
    Given a cluster of 2 nodes with 1 slot each
    When node "n1" drops every packet
    Then pool "p1" leaves placement within one poll interval plus the request timeout plus 1500 ms
    And orchestratord polls pool "p2" 6 more times within 5 seconds

  @ORCH-0001 @ORCH-4005
  Scenario: A task streaming on a node whose link goes down ends with exactly one error
    Given a cluster of 2 nodes with 1 slot each
    When I start task "cut-off" of 4000 tokens pinned to pool "p1"
    And I follow the events of task "cut-off"
    And task "cut-off" is streaming within 30 seconds
    And node "n1" loses its link
    Then task "cut-off" ends with "error" within 30 seconds

  @ORCH-4010 @ORCH-0001 @CLOUD-0007
  Scenario: A task queued for the pool of a partitioned node waits, and runs there after heal
    Given a cluster of 2 nodes with 1 slot each
    When I start task "first" of 4000 tokens pinned to pool "p1"
    And I follow the events of task "first"
    And task "first" is streaming within 30 seconds
    And I start task "waiting" of 8 tokens pinned to pool "p1"
    And I follow the events of task "waiting"
    And node "n1" drops every packet
    Then pool "p1" is out of placement within 15 seconds
    And task "waiting" has neither started nor ended
    When node "n1" heals
    Then task "waiting" ends with "end" within 150 seconds
    And task "waiting" ran on pool "p1"

  @ORCH-4010 @ORCH-0001 @CLOUD-0007
  Scenario: A task queued for the pool of a partitioned node ends POOL_UNAVAILABLE after ORCHD_POOL_WAIT_MS
    Given orchestratord is configured with "ORCHD_POOL_WAIT_MS=2000"
    And a cluster of 2 nodes with 1 slot each
    When I start task "first" of 4000 tokens pinned to pool "p1"
    And I follow the events of task "first"
    And task "first" is streaming within 30 seconds
    And I start task "waiting" of 8 tokens pinned to pool "p1"
    And I follow the events of task "waiting"
    And node "n1" drops every packet
    Then pool "p1" is out of placement within 15 seconds
    And task "waiting" ends with "error" within 5 seconds
    And task "waiting" ended with error code "POOL_UNAVAILABLE"

  @ORCH-4010 @ORCH-0001 @CLOUD-0007
  Scenario: A task queued for the pool of a stopped pool-managerd ends POOL_UNAVAILABLE after ORCHD_POOL_WAIT_MS
    Given orchestratord is configured with "ORCHD_POOL_WAIT_MS=2000"
    And a cluster of 2 nodes with 1 slot each
    When I start task "first" of 4000 tokens pinned to pool "p1"
    And I follow the events of task "first"
    And task "first" is streaming within 30 seconds
    And I start task "waiting" of 8 tokens pinned to pool "p1"
    And I follow the events of task "waiting"
    And the pool-managerd of node "n1" is stopped with SIGKILL
    Then pool "p1" is out of placement within 15 seconds
    And task "waiting" ends with "error" within 5 seconds
    And task "waiting" ended with error code "POOL_UNAVAILABLE"
    And task "first" ends with "error" within 30 seconds
