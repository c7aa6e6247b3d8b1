"""moco's runtime core: messages, events, the agent loop and the orchestrator."""
