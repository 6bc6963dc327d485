Feature: orchestratord's /metrics exposes the CLOUD spec's series, and they move with the work
  /metrics is open without a key (for the scraper). The admission, dispatch and pool-availability series exist for
  every known pool from the start and follow what the cluster does: tasks queueing and running, a node cut off.

  @OBS-6301 @OBS-6303
  Scenario: /metrics exposes the admission, dispatch and availability series for every pool without a key
    Given orchestratord is configured with "ORCHD_ADMISSION_CAPACITY=7"
    And a cluster of 2 nodes with 1 slot each
    Then orchestratord's /metrics, asked without a key, shows
      | series                                                      | value |
      | orchd_admission_queue_capacity                              | 7     |
      | orchd_admission_queue_depth{pool_id="p1"}                   | 0     |
      | orchd_admission_queue_depth{pool_id="p2"}                   | 0     |
      | orchd_admission_queue_depth{pool_id="none"}                 | 0     |
      | orchd_pools_available{pool_id="p1"}                         | 1     |
      | orchd_pools_available{pool_id="p2"}                         | 1     |
      | orchd_pool_health_checks_total{pool_id="p1",outcome="ready"} | >= 1  |
      | orchd_pool_health_checks_total{pool_id="p2",outcome="ready"} | >= 1  |

  @OBS-6301 @OBS-6304 @ORCH-0001
  Scenario: the queue depth rises while tasks wait and the dispatch counter counts each task that ran
    Given a cluster of 1 node with 1 slot each
    When I note orchestratord's metric 'orchd_tasks_dispatched_total{pool_id="p1",outcome="ok"}'
    And I submit the long task "hog"
    And I follow the events of task "hog"
    And task "hog" has streamed its first token within 30 seconds
    And I submit task "waiting-1" with 8 max tokens
    And I submit task "waiting-2" with 8 max tokens
    And I follow the events of task "waiting-1"
    And I follow the events of task "waiting-2"
    Then orchestratord's metric 'orchd_admission_queue_depth{pool_id="p1"}' reaches 2 within 5 seconds
    When the client of task "hog" cancels it
    Then task "hog" ends with "end" within 30 seconds
    And task "waiting-1" ends with "end" within 30 seconds
    And task "waiting-2" ends with "end" within 30 seconds
    And orchestratord's metric 'orchd_admission_queue_depth{pool_id="p1"}' reaches 0 within 5 seconds
    And orchestratord's metric 'orchd_tasks_dispatched_total{pool_id="p1",outcome="ok"}' rose by 3

  @OBS-6303 @CLOUD-0007
  Scenario: a partitioned node's pool is shown unavailable, and available again after it heals
    Given a cluster of 2 nodes with 1 slot each
    When I note orchestratord's metric 'orchd_pool_health_checks_total{pool_id="p2",outcome="unreachable"}'
    And node "n2"'s link is cut
    Then orchestratord's metric 'orchd_pools_available{pool_id="p2"}' reaches 0 within one poll interval plus the request timeout
    And orchestratord's metric 'orchd_pools_available{pool_id="p1"}' is 1
    And orchestratord's metric 'orchd_pool_health_checks_total{pool_id="p2",outcome="unreachable"}' rose by at least 1
    When node "n2"'s link is restored
    Then orchestratord's metric 'orchd_pools_available{pool_id="p2"}' reaches 1 within one poll interval plus the request timeout
