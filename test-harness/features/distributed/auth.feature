Feature: Only callers with an API key or a verified OIDC token reach the data plane, and only admins control pools
  In the CLOUD profile every route but /health, /ready and /metrics needs a credential. A refusal is a 401 (or a 403
  for a role that may not do it) with the error envelope and the request's correlation id, and what it asked for never
  happens.

  @SEC-0004 @SEC-4007 @cloud
  Scenario: a task submitted without an API key is refused with a 401 envelope and never admitted
    Given a cluster of 1 node with 1 slot each
    When I submit task "anonymous" with no credential and correlation id "auth-none"
    Then the answer is HTTP 401
    And the answer is the error envelope "UNAUTHORIZED" with correlation id "auth-none"
    And task "anonymous" was never admitted

  @SEC-4007 @SEC-6101 @cloud
  Scenario: a wrong API key is refused like no key, while the client key works in either header
    Given a cluster of 1 node with 1 slot each
    When I submit task "guessed" with the bearer "sk-llorch-a-key-nobody-issued-0123" and correlation id "auth-wrong"
    Then the answer is HTTP 401
    And the answer is the error envelope "UNAUTHORIZED" with correlation id "auth-wrong"
    And task "guessed" was never admitted
    When I submit task "keyed" with 8 max tokens and the client key in X-API-Key
    And I follow the events of task "keyed"
    Then task "keyed" ends with "end" within 30 seconds

  @SEC-6105 @SEC-6109
  Scenario: a client key cannot drain a pool, the admin key can
    Given a cluster of 1 node with 1 slot each
    When I ask to drain pool "p1" with the client key
    Then the answer is HTTP 403
    And the answer is the error envelope "FORBIDDEN"
    And pool "p1" is still ready and not draining on node "n1"
    When I ask to drain pool "p1" with the admin key
    Then the answer is HTTP 200
    And pool "p1" is drained out of placement in orchestratord within one poll interval plus the request timeout
    And orchestratord logged the drain with the admin key's fingerprint, never the key

  @SEC-6102 @SEC-6103
  Scenario: a token signed by the OIDC issuer runs a task; expired and wrong-audience tokens are refused
    Given orchestratord trusts the test OIDC issuer for audience "llama-orch"
    And a cluster of 1 node with 1 slot each
    When I submit task "by-alice" with 8 max tokens and an OIDC token for subject "alice"
    Then the answer is HTTP 202
    When I follow the events of task "by-alice" with that OIDC token
    Then task "by-alice", followed with that OIDC token, ends with "end" within 30 seconds
    And orchestratord logged the identity "oidc:alice", never the token
    When I submit task "keyed-beside-oidc" with 8 max tokens and the client key in X-API-Key
    And I follow the events of task "keyed-beside-oidc"
    Then task "keyed-beside-oidc" ends with "end" within 30 seconds
    When I submit task "late" with an OIDC token that expired 120 seconds ago
    Then the answer is HTTP 401
    And the answer is the error envelope "UNAUTHORIZED" saying "expired"
    And task "late" was never admitted
    When I submit task "elsewhere" with an OIDC token for audience "someone-else"
    Then the answer is HTTP 401
    And the answer is the error envelope "UNAUTHORIZED" saying "aud"
    And task "elsewhere" was never admitted

  @SEC-6103 @SEC-6105
  Scenario: an OIDC token with the admin role may drain a pool, one without it may not
    Given orchestratord trusts the test OIDC issuer for audience "llama-orch"
    And a cluster of 1 node with 1 slot each
    When I ask to drain pool "p1" with an OIDC token whose role is "user"
    Then the answer is HTTP 403
    And the answer is the error envelope "FORBIDDEN"
    And pool "p1" is still ready and not draining on node "n1"
    When I ask to drain pool "p1" with an OIDC token whose role is "admin"
    Then the answer is HTTP 200
    And pool "p1" is drained out of placement in orchestratord within one poll interval plus the request timeout
