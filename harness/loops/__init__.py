"""Agent loops: how a turn runs and what goes on the wire, one module per flavour.

- `kinds`: the closed set of loops (`LoopName`) and the wire defaults each implies (a leaf: config uses it).
- `base`: the `Loop` interface the agent calls, and the harness's own loop (today's, unchanged).
- `letta_memgpt`: Letta 0.6's MemGPT agent, request for request (tests/conformance holds the proof).
- `letta_v1`: Letta's newer loop: no heartbeats, no send_message needed.
- `registry`: `LoopName` -> a fresh `Loop`.
"""
