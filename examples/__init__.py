"""Custom tools used by the example agents in agents.yaml."""
