Feature: Admission on a busy cluster
  When every slot is busy, tasks wait in a bounded queue: a full queue refuses with 429 and Retry-After, or, under
  drop-lru, evicts its oldest batch task; interactive tasks start before batch ones; a deadline that passes while a
  task waits ends it.

  @ORCH-4003 @ORCH-1004
  Scenario: a full queue under the reject policy answers 429 with Retry-After, X-Backoff-Ms and retry_after_ms
    Given orchestratord is configured with "ORCHD_ADMISSION_CAPACITY=1,ORCHD_ADMISSION_POLICY=reject"
    And a cluster of 1 node with 1 slot and a context of 131072 tokens
    And the only slot is busy with the never-ending task "hog"
    When I submit task "waiting" with 4 max tokens
    Then task "waiting" is queued at position 0
    When I submit task "one-too-many" with 4 max tokens
    Then the answer is HTTP 429
    And the refusal is "ADMISSION_REJECT" under policy "reject" with Retry-After and X-Backoff-Ms matching its retry_after_ms

  @ORCH-4003 @ORCH-0001
  Scenario: a full queue under drop-lru evicts the oldest batch task and admits the newcomer
    Given orchestratord is configured with "ORCHD_ADMISSION_CAPACITY=1,ORCHD_ADMISSION_POLICY=drop-lru"
    And a cluster of 1 node with 1 slot and a context of 131072 tokens
    And the only slot is busy with the never-ending task "hog"
    When I submit task "old-batch" with 4 max tokens and priority "batch"
    And I follow the events of task "old-batch"
    And I submit task "newcomer" with 4 max tokens
    Then the answer is HTTP 202
    And task "old-batch" ends with "error" within 10 seconds
    And task "old-batch" ended with error code "QUEUE_FULL_DROP_LRU"
    When the never-ending task "hog" is canceled
    And I follow the events of task "newcomer"
    Then task "newcomer" ends with "end" within 30 seconds

  @ORCH-4003
  Scenario: an interactive task queued after a batch task starts first
    Given a cluster of 1 node with 1 slot and a context of 131072 tokens
    And the only slot is busy with the never-ending task "hog"
    When I submit task "batch-first" with 4 max tokens and priority "batch"
    And I submit task "interactive-later" with 4 max tokens and priority "interactive"
    Then task "interactive-later" is queued at position 0
    When I follow the events of tasks "batch-first" and "interactive-later" on one timeline
    And the never-ending task "hog" is canceled
    Then task "batch-first" ends with "end" within 30 seconds
    And task "interactive-later" ends with "end" within 30 seconds
    And task "interactive-later" started before task "batch-first"

  @ORCH-4003 @ORCH-0001
  Scenario: a queued task whose deadline passes ends with DEADLINE_UNMET
    Given a cluster of 1 node with 1 slot and a context of 131072 tokens
    And the only slot is busy with the never-ending task "hog"
    When I submit task "late" with 4 max tokens and a deadline of 300 ms
    Then the answer is HTTP 202
    When I follow the events of task "late"
    Then task "late" ends with "error" within 10 seconds
    And task "late" ended with error code "DEADLINE_UNMET"
    And task "hog" is still streaming tokens
