Feature: Engines and pool-managerds that crash, restart, drain and reload with work in flight
  pool-managerd runs each node's engines in-process (LLORCH_CONFIG) and reconciles its registry from the handoff
  files they write. An engine that dies is restarted and proves its health again; a pool-managerd stopped takes its
  engines and handoffs with it and comes back from the build cache; drain and reload let the running task finish.

  @PROV-2007 @POOL-3003 @ORCH-0001 @ORCH-4010
  Scenario: An engine killed during a task fails that task once; it is supervised back and the next task succeeds
    Given a cluster of 1 node with 1 slot each
    When I start task "victim" of 4000 tokens pinned to pool "p1"
    And I follow the events of task "victim"
    And task "victim" is streaming within 30 seconds
    And the engine of node "n1" is killed
    Then task "victim" ends with "error" within 30 seconds
    And node "n1" runs a new engine within 60 seconds
    And pool "p1" is placeable again within 60 seconds

  @POOL-3008 @ORCH-0008 @CLOUD-0007 @POOL-3001
  Scenario: A pool-managerd stopped with SIGTERM stops its engines and handoffs; started again, it serves the pool
    Given a cluster of 2 nodes with 1 slot each
    When the pool-managerd of node "n1" is stopped with SIGTERM
    Then pool "p1" leaves placement within one poll interval plus the request timeout plus 1500 ms
    And no engine of node "n1" outlives its pool-managerd
    And node "n1" has no handoff file left
    And 2 new tasks in a row run on pool "p2"
    When the pool-managerd of node "n1" starts again
    Then pool "p1" is placeable again within 90 seconds
    And node "n1" serves from engines other than before

  @ORCH-0008 @POOL-3001 @POOL-3003 @CLOUD-0007
  Scenario: A pool-managerd killed with SIGKILL takes its engines down; the next one serves the pool from new engines
    Given a cluster of 2 nodes with 1 slot each
    When the pool-managerd of node "n1" is stopped with SIGKILL
    Then pool "p1" leaves placement within one poll interval plus the request timeout plus 1500 ms
    And no engine of node "n1" outlives its pool-managerd
    When the pool-managerd of node "n1" starts again
    Then pool "p1" is placeable again within 90 seconds
    And node "n1" serves from engines other than before

  @POOL-3006 @ORCH-4002 @ORCH-4004 @ORCH-0001
  Scenario: Draining a pool lets its running task end, places new tasks elsewhere and leaves the pool offline
    Given a cluster of 2 nodes with 1 slot each
    When I start task "running" of 2000 tokens pinned to pool "p1"
    And I follow the events of task "running"
    And task "running" is streaming within 30 seconds
    And an admin drains pool "p1" with a deadline of 170000 ms
    Then pool "p1" shows as draining in orchestratord within one poll interval plus the request timeout
    And 1 new task in a row run on pool "p2"
    And task "running" ends with "end" within 150 seconds
    And the drain of pool "p1" answers with the state "offline" and 0 aborted
    And pool "p1" stays out of placement as "offline"

  @POOL-3006 @ORCH-0001
  Scenario: A drain whose deadline passes aborts the running task with one error
    Given a cluster of 2 nodes with 1 slot each
    When I start task "overdue" of 4000 tokens pinned to pool "p1"
    And I follow the events of task "overdue"
    And task "overdue" is streaming within 30 seconds
    And an admin drains pool "p1" with a deadline of 300 ms
    Then the drain of pool "p1" answers with the state "offline" and 1 aborted
    And task "overdue" ends with "error" within 30 seconds
    And pool "p1" stays out of placement as "offline"

  # These nodes have no memory budget: the new engines start beside the old one, which finishes the running task.
  @POOL-3007 @POOL-3022 @ORCH-4002 @ORCH-0001
  Scenario: Reloading a pool lets its running task end, then serves from a new generation of engines
    Given a cluster of 1 node with 1 slot each
    When I start task "running" of 2000 tokens pinned to pool "p1"
    And I follow the events of task "running"
    And task "running" is streaming within 30 seconds
    And an admin reloads pool "p1" to the model "demo"
    Then task "running" ends with "end" within 150 seconds
    And the reload of pool "p1" answers ok, not rolled back
    And node "n1" serves from engines other than before
    And pool "p1" is placeable again within 30 seconds
