Feature: Only orchestratord, with a certificate from the cluster CA, talks to a node's pool-managerd
  Every pool-managerd serves mutual TLS against the cluster CA. A client without a certificate, or with one from
  another CA, is refused at the handshake or the request, while orchestratord keeps placing work through its own
  certificate. A node's certificate rotates by rewriting its files: new connections get the new one, work in flight
  finishes on its connection.

  @SEC-0004 @SEC-3009
  Scenario: a node refuses a client without a certificate and one with another CA's, orchestratord keeps serving
    Given a cluster of 1 node with 1 slot each
    Then a client with a certificate from the cluster CA reads pool "p1"'s status from node "n1"
    And a client without a certificate cannot read anything from node "n1"
    And a client with a certificate from another CA cannot read anything from node "n1"
    When I submit task "through-orchd" with 8 max tokens
    And I follow the events of task "through-orchd"
    Then task "through-orchd" ends with "end" within 30 seconds
    And task "through-orchd" ran on pool "p1"

  @CLOUD-6201 @CLOUD-6202 @ORCH-0001
  Scenario: a node's certificate rotates while a task streams through it, and tasks keep running
    Given a cluster of 1 node with 1 slot each
    When I submit the long task "long"
    And I follow the events of task "long"
    And task "long" has streamed its first token within 30 seconds
    And node "n1"'s certificate files are replaced by a new certificate from the cluster CA
    Then new connections to node "n1" are served the new certificate within 10 seconds
    And task "long" streams 20 more tokens within 30 seconds after the new certificate was served
    When the client of task "long" cancels it
    Then task "long" ends with "end" within 30 seconds
    When I submit task "after-rotation" with 8 max tokens, retrying a retriable refusal after the time it names
    And I follow the events of task "after-rotation"
    Then task "after-rotation" ends with "end" within 30 seconds

  @CLOUD-6203
  Scenario: a certificate file that does not parse is refused, and the node keeps serving the certificate it had
    Given a cluster of 1 node with 1 slot each
    When node "n1"'s certificate file is overwritten with text that is not a certificate
    Then node "n1" refuses the new TLS material within 10 seconds and keeps serving the certificate it had
    When I submit task "after-garbage" with 8 max tokens
    And I follow the events of task "after-garbage"
    Then task "after-garbage" ends with "end" within 30 seconds
