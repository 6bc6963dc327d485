Feature: Cancel, and clients that leave
  A task canceled by its client, or left by a client that does not come back within the reconnect grace, gives
  its slot back: a queued task leaves the queue without running, a streaming one stops with exactly one terminal
  event (`end` with finish_reason "canceled") and no token after it. A client that reconnects within the grace
  keeps its task and gets the events it missed.

  @ORCH-4006
  Scenario: A task canceled while queued ends at once and never runs
    Given a cluster of 1 node with 1 slot each
    When I submit the endless task "hog"
    And I follow the events of task "hog"
    And task "hog" is streaming tokens on pool "p1"
    And I submit task "waiting" with 4 max tokens
    Then task "waiting" is still queued
    When I cancel task "waiting"
    Then the answer is HTTP 204
    When I follow the events of task "waiting"
    Then task "waiting" ends with "end" within 5 seconds
    And task "waiting" was canceled before it started

  @ORCH-4006
  Scenario: A task canceled while streaming stops with no token after the cancel and frees its slot
    Given a cluster of 1 node with 1 slot each
    When I submit the endless task "running"
    And I follow the events of task "running"
    And task "running" is streaming tokens on pool "p1"
    And I submit task "next" with 8 max tokens
    And I follow the events of task "next"
    Then task "next" is still queued
    When I cancel task "running"
    Then the answer is HTTP 204
    And task "running" ends with "end" within 5 seconds
    And task "running" was canceled after streaming, with no token after its end
    And task "next" ends with "end" within 30 seconds
    And task "next" ran on pool "p1"

  @ORCH-4006 @ORCH-4013
  Scenario: A client that leaves the stream and does not come back frees the slot after the reconnect grace
    Given orchestratord is configured with "ORCHD_RECONNECT_GRACE_MS=1500"
    And a cluster of 1 node with 1 slot each
    When I submit the endless task "leaver"
    And I submit task "next" with 8 max tokens
    And I follow the events of task "next"
    And a client follows task "leaver" until it streams tokens, then leaves
    Then task "next" starts no sooner than 1500 ms after the client of task "leaver" left
    And task "next" ends with "end" within 30 seconds
    And task "next" ran on pool "p1"
    When I follow the events of task "leaver"
    Then task "leaver" ends with "end" within 5 seconds
    And task "leaver" was canceled after streaming, with no token after its end

  @ORCH-4013
  Scenario: A client that reconnects within the grace gets the rest of the events of its task
    Given orchestratord is configured with "ORCHD_RECONNECT_GRACE_MS=1500"
    And a cluster of 1 node with 1 slot each
    When I submit the endless task "rejoin"
    And a client follows task "rejoin" until it streams tokens, then leaves
    And I follow the events of task "rejoin"
    Then task "rejoin" still streams tokens 3000 ms after the client left
    And the events of task "rejoin" replay what the client saw before it left, then go on
    When I cancel task "rejoin"
    Then task "rejoin" ends with "end" within 5 seconds
    And task "rejoin" was canceled after streaming, with no token after its end

  @ORCH-4006 @ORCH-4002 @cloud
  Scenario: Canceling a task nobody submitted is 404
    Given a cluster of 1 node with 1 slot each
    When I cancel task "no-such-task"
    Then the answer is HTTP 404
    And the refusal is the error envelope "NOT_FOUND"
