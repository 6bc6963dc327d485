Feature: Several orchestratord replicas share the nodes without oversubscribing a pool
  pool-managerd is the only authority on slots. Every replica polls the same pools and believes their slots free, so
  a burst through several replicas makes them race for the same slots: the loser gets pool-managerd's busy answer and
  queues the task again. The engines' own /slots and /metrics, sampled inside each node's namespace while the tasks
  run, show whether a pool ever held more requests than its slots.

  @POOL-0002 @POOL-0011 @CLOUD-6007 @ORCH-0001
  Scenario: two replicas sharing one node never put more requests on its pool than it has slots
    Given 2 orchestratord replicas
    And a cluster of 1 node with 2 slots each
    When 16 tasks of 24 max tokens are sent through the replicas in turn
    Then every one of those tasks ends with "end" within 120 seconds
    And no engine ever processed more requests than its slots or deferred one
    And the replicas raced for slots: pool-managerd answered busy and the tasks were queued again
    And the pool-managerds ran every one of those tasks exactly once

  @POOL-0002 @POOL-0011 @CLOUD-6007 @ORCH-0001
  Scenario: three replicas sharing two nodes never put more requests on a pool than it has slots
    Given 3 orchestratord replicas
    And a cluster of 2 nodes with 1 slot each
    When 18 tasks of 24 max tokens are sent through the replicas in turn
    Then every one of those tasks ends with "end" within 120 seconds
    And no engine ever processed more requests than its slots or deferred one
    And the replicas raced for slots: pool-managerd answered busy and the tasks were queued again
    And the pool-managerds ran every one of those tasks exactly once
