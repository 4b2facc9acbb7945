"""Letta Agent Files (.af): read them into agents.yaml (`harness import`) and write them from it
(`harness export`).

    schema.py     strict pydantic mirror of Letta's AgentFileSchema (letta/schemas/agent_file.py) and of the
                  older single-agent export (letta 0.6-0.8)
    reading.py    a bounded, located read of a file in either format (double-encoded JSON too)
    importer.py   Agent File -> agents.yaml (+ a tools module), and what could not be kept
    exporter.py   AgentSpec -> Agent File
"""
