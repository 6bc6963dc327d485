Feature: The HOME profile, as a homelab user sees it
  One command gives an OpenAI-compatible endpoint on this machine; Ctrl-C takes everything down again.

  Scenario: start, chat, status, stop
    Given a fresh llama-orch state directory
    When I run "npm start"
    Then it prints a ready line within 120 seconds
    And the endpoint lists the model "demo"
    When I chat "Say hello" with at most 5 tokens
    Then I receive 5 streamed tokens
    When I run "llorch status --json"
    Then the pool "demo" is "ready" with 2 slots
    When I stop llama-orch
    Then it exits cleanly within 20 seconds
    And no engine and no handoff file is left behind
