Feature: The handoff watcher with bad, dead and removed files
  pool-managerd treats <runtime>/engines/*.json as desired state (POOL-3001). A bad file is logged with its reason
  and ignored, never fatal, never deleted and never ready (POOL-3002, PROV-0005); a handoff whose engine does not
  answer never makes its pool ready (POOL-3003); a removed handoff takes its pool out of placement.

  @POOL-3002 @PROV-0005 @PROV-1001 @POOL-3001
  Scenario Outline: A bad handoff file (<kind>) is logged with its reason and ignored; the node's pool keeps serving
    Given a cluster of 1 node with 1 slot each
    When the handoff file "<file>" holding "<kind>" appears on node "n1"
    Then node "n1" logs that it ignored "<file>" because "<reason>"
    And orchestratord lists exactly the pools "p1"
    And pool "p1" is placeable again within 10 seconds

    Examples:
      | kind                  | file           | reason                      |
      | text that is not JSON | broken-r0.json | not JSON                    |
      | schema_version 2      | future-r0.json | this build reads version 1  |
      | a URL off loopback    | remote-r0.json | engines bind loopback only  |
      | another pool's name   | stray-r0.json  | must be named other-r0.json |

  @POOL-3003 @POOL-3001 @ORCH-4004
  Scenario: A handoff naming an engine that does not answer leaves its pool unready, and tasks go to the good pool
    Given a cluster of 1 node with 1 slot each
    When a handoff of pool "ghost" naming an engine that does not answer appears on node "n1"
    Then orchestratord lists pool "ghost" as not ready, its last error saying "engine unreachable"
    And 2 new tasks in a row run on pool "p1"

  @POOL-3001 @POOL-3003 @CLOUD-0007
  Scenario: Removing a handoff takes its pool out of placement; putting it back brings the pool back
    Given a cluster of 2 nodes with 1 slot each
    When the handoff of pool "p1" is removed from node "n1"
    Then pool "p1" leaves placement within one poll interval plus the request timeout plus 2500 ms
    And 2 new tasks in a row run on pool "p2"
    When the handoff of pool "p1" is put back
    Then pool "p1" is placeable again within 10 seconds
