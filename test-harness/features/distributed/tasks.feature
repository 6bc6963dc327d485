Feature: Native tasks on a multi-node cluster
  A client submits a task to orchestratord, which admits it, places it on a pool of a GPU node reached over
  mutual TLS, and streams its events back: started, tokens with metrics in between, and exactly one terminal event.

  @ORCH-4002 @ORCH-1002 @cloud
  Scenario: a submitted task is admitted with its id, its queue position and its event stream
    Given a cluster of 1 node with 1 slot each
    When I submit task "admitted" with 8 max tokens
    Then the answer is HTTP 202
    And the admission of task "admitted" names its id, queue position 0 and the stream "/v2/tasks/admitted/events"

  @ORCH-4002 @ORCH-1003 @ORCH-0001 @cloud
  Scenario: the events are started, tokens with metrics interleaved, then one end counting the tokens streamed
    Given a cluster of 2 nodes with 1 slot each
    When I submit task "order" that must stream exactly 70 tokens
    And I follow the events of task "order"
    Then task "order" ends with "end" within 30 seconds
    And the events of task "order" are started, 70 tokens numbered from 0 with metrics between them, and one end counting 70 tokens

  @ORCH-4002 @ORCH-1004 @ORCH-4061
  Scenario: a task id reused for another request is refused with 409; the same request again is the same task
    Given a cluster of 1 node with 1 slot and a context of 131072 tokens
    When I submit a never-ending task "dup"
    And I follow the events of task "dup"
    And I submit a never-ending task "dup"
    Then the answer is HTTP 202
    When I submit a never-ending task "dup" with another prompt
    Then the answer is HTTP 409
    And the refusal is the error envelope "CONFLICT"
    And task "dup" is still streaming tokens

  @ORCH-1001 @ORCH-0006 @ORCH-1004 @cloud
  Scenario: bad task bodies are refused with 400 INVALID_PARAMS naming the field
    Given a cluster of 1 node with 1 slot each
    Then each of these task bodies is refused with 400 INVALID_PARAMS naming its field:
      | body                                                                            | field                 |
      | {"prompt":"x"}                                                                  | model_ref             |
      | {"model_ref":"demo","prompt":"x","max_tokens":-1}                               | max_tokens            |
      | {"model_ref":"demo","prompt":"x","priority":"urgent"}                           | priority              |
      | {"model_ref":"demo","prompt":"x","promt":"typo"}                                | promt                 |
      | {"model_ref":"demo","prompt":"x","placement":{"mode":"pin"}}                    | placement.pin_pool_id |
      | {"model_ref":"demo","prompt":"x","messages":[{"role":"user","content":"x"}]}    | prompt                |

  @ORCH-4002 @ORCH-1004 @cloud
  Scenario: the events of a task nobody submitted are a 404
    Given a cluster of 1 node with 1 slot each
    When I ask for the events of task "never-submitted"
    Then the answer is HTTP 404
    And the refusal is the error envelope "NOT_FOUND"
