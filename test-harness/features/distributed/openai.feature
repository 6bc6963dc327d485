Feature: The OpenAI-compatible endpoint on a multi-node cluster
  Clients that speak OpenAI's API use the cluster as they would use OpenAI: with an API key, streaming or not,
  and get OpenAI's shapes back, errors included.

  @ORCH-4001 @ORCH-1005 @cloud
  Scenario: a non-streaming chat completion answers a chat.completion with usage
    Given a cluster of 1 node with 1 slot each
    When I ask for a chat completion of 12 tokens without streaming
    Then the answer is HTTP 200
    And the answer is a chat.completion of 12 completion tokens whose usage adds up

  @ORCH-4001 @ORCH-1005 @cloud
  Scenario: the openai client streams a chat completion in chunks that end with a finish_reason
    Given a cluster of 2 nodes with 1 slot each
    When the openai client streams a chat completion of 9 tokens with usage
    Then the stream brought 9 content chunks, the finish_reason "length" and a usage of 9 completion tokens

  @ORCH-4001
  Scenario: the model list names the demo model and every pool id of every node
    Given a cluster with pools "n1:alpha=1,n2:beta=1"
    When the openai client lists the models
    Then the models are "alpha,beta,demo"

  @ORCH-4001 @ORCH-0006 @ORCH-1005 @cloud
  Scenario: a model no pool serves is a 404 in OpenAI's error shape
    Given a cluster of 1 node with 1 slot each
    When I ask for a chat completion of the model "llama-70b"
    Then the answer is HTTP 404
    And the answer is an OpenAI error of type "not_found_error" and code "model_not_available"
    And the openai client raises an APIError 404 "model_not_available" for the model "llama-70b"
