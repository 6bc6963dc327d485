Feature: orchestratord finds the nodes through DNS and follows the records as nodes join and leave
  With discovery through DNS, orchestratord re-resolves the name every poll: a node that appears in the records is
  polled at once and placeable within one poll interval; one that leaves the records leaves placement within one poll
  interval, while a task already running on it finishes there.

  @CLOUD-6001 @CLOUD-6003
  Scenario: a node that joins DNS is placeable within one poll interval
    Given a cluster of 1 node with 1 slot each found through DNS
    When node "n2" with pool "p2" of 1 slot joins the DNS records
    Then orchestratord polls node "n2" within one poll interval plus the request timeout of its joining
    And pool "p2" is ready in orchestratord within one poll interval plus the request timeout of node "n2" saying so
    When I submit task "on-the-new-node" pinned to pool "p2" with 8 max tokens
    And I follow the events of task "on-the-new-node"
    Then task "on-the-new-node" ends with "end" within 30 seconds
    And task "on-the-new-node" ran on pool "p2"

  @CLOUD-6001 @CLOUD-6003 @ORCH-0001
  Scenario: a node removed from DNS leaves placement within one poll interval while its running task goes on streaming
    Given a cluster of 2 nodes with 1 slot each found through DNS
    When I submit task "long" pinned to pool "p2" with 1000000 max tokens
    And I follow the events of task "long"
    And task "long" has streamed its first token within 30 seconds
    And node "n2" is removed from the DNS records
    Then pool "p2" leaves orchestratord's pools within one poll interval plus the request timeout
    And task "long" streams 20 more tokens within 30 seconds after pool "p2" left
    When the client of task "long" cancels it
    Then task "long" ends with "end" within 30 seconds
    When I submit task "after-leaving" with 8 max tokens
    And I follow the events of task "after-leaving"
    Then task "after-leaving" ends with "end" within 30 seconds
    And task "after-leaving" ran on pool "p1"
