Feature: A cluster of GPU nodes, each in its own network namespace
  Every node has its own address on a test bridge and runs pool-managerd over mutual TLS; orchestratord (CLOUD
  profile) polls them, places tasks on them and relays their streams. A node cut off from the network leaves
  placement within one poll interval plus the request timeout, and comes back after its first good poll.

  @ORCH-0001 @ORCH-1003 @cloud
  Scenario: a task runs on a node and ends with exactly one terminal event
    Given a cluster of 1 node with 1 slot each
    When I submit task "hello" with 16 max tokens
    Then the answer is HTTP 202
    When I follow the events of task "hello"
    Then task "hello" ends with "end" within 60 seconds
    And task "hello" ran on pool "p1"

  @ORCH-4004
  Scenario: two nodes both take tasks: the second goes to the node that has a free slot
    Given a cluster of 2 nodes with 1 slot each
    When I submit task "first" with 300 max tokens
    And I submit task "second" with 300 max tokens
    And I follow the events of task "first"
    And I follow the events of task "second"
    Then task "first" ran on pool "p1"
    And task "second" ran on pool "p2"
    And task "first" ends with "end" within 120 seconds
    And task "second" ends with "end" within 120 seconds

  @CLOUD-0007 @ORCH-4005 @ORCH-4004
  Scenario: a node cut off from the bridge leaves placement, new tasks go to the other node, heal brings it back
    Given a cluster of 2 nodes with 1 slot each
    When node "n1" is cut off from the bridge with "link"
    Then pool "p1" is out of placement within one poll interval plus the request timeout
    When I submit task "elsewhere" with 8 max tokens
    And I follow the events of task "elsewhere"
    Then task "elsewhere" ran on pool "p2"
    And task "elsewhere" ends with "end" within 60 seconds
    When node "n1" is reconnected to the bridge
    Then pool "p1" is back in placement within one poll interval plus the request timeout
    When I submit task "home" with 8 max tokens
    And I follow the events of task "home"
    Then task "home" ran on pool "p1"
    And task "home" ends with "end" within 60 seconds

  @CLOUD-0007 @ORCH-4005 @ORCH-0001
  Scenario: a node cut off mid-stream: its task ends with one error, new tasks go to the other node, heal brings it back
    Given a cluster of 2 nodes with 1 slot each
    When I submit task "long" with 16000 max tokens
    And I follow the events of task "long"
    Then task "long" ran on pool "p1"
    And task "long" has streamed a token within 30 seconds
    When node "n1" is cut off from the bridge with "drop"
    Then pool "p1" is out of placement within one poll interval plus the request timeout
    And task "long" ends with "error" within 30 seconds
    When I submit task "elsewhere" with 8 max tokens
    And I follow the events of task "elsewhere"
    Then task "elsewhere" ran on pool "p2"
    And task "elsewhere" ends with "end" within 60 seconds
    When node "n1" is reconnected to the bridge
    Then pool "p1" is back in placement within one poll interval plus the request timeout
