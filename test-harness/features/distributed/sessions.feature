Feature: Sessions keep their turns on one pool
  The turns of a session (session_id) go to the pool its last turn ran on, where its KV cache is warm, while
  that pool has a free slot; tasks without a session are placed by load and pool id. A session whose pool is
  gone goes on elsewhere. A session can be read and deleted; a deleted one is unknown and has no affinity.

  @ORCH-4004 @ORCH-4002
  Scenario: The next turn of a session goes back to its pool while other tasks go by the tie-break
    Given a cluster of 2 nodes with 1 slot each
    When I submit the endless task "hog"
    And I follow the events of task "hog"
    And task "hog" is streaming tokens on pool "p1"
    And I run turn "turn-1" of session "chat"
    Then task "turn-1" ran on pool "p2"
    When I cancel task "hog"
    And every pool is idle
    And I run task "plain" without a session
    Then task "plain" ran on pool "p1"
    When every pool is idle
    And I run turn "turn-2" of session "chat"
    Then task "turn-2" ran on pool "p2"
    And session "chat" has 2 turns on pool "p2" with a warm KV cache

  @ORCH-4004 @ORCH-4005 @ORCH-4002
  Scenario: The next turn of a session whose node is partitioned runs on another pool
    Given a cluster of 2 nodes with 1 slot each
    When I run turn "turn-1" of session "chat" pinned to pool "p2"
    Then task "turn-1" ran on pool "p2"
    When node "n2" is partitioned and its pool has left placement
    And I run turn "turn-2" of session "chat"
    Then task "turn-2" ran on pool "p1"
    And session "chat" has 2 turns on pool "p1" with a warm KV cache

  @ORCH-4002 @ORCH-4004
  Scenario: A deleted session is unknown and its next turn has no affinity
    Given a cluster of 2 nodes with 1 slot each
    When I run turn "turn-1" of session "chat" pinned to pool "p2"
    Then session "chat" has 1 turn on pool "p2" with a warm KV cache
    When I delete session "chat"
    Then the answer is HTTP 204
    When I read session "chat"
    Then the answer is HTTP 404
    And the refusal is the error envelope "NOT_FOUND"
    When I delete session "chat"
    Then the answer is HTTP 404
    When every pool is idle
    And I run turn "turn-2" of session "chat"
    Then task "turn-2" ran on pool "p1"
    And session "chat" has 1 turn on pool "p1" with a warm KV cache
