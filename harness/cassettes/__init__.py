"""Cassettes: every model exchange of a scenario, recorded once and replayed offline.

    keys.py       how a request is recognised: method, path, canonical JSON body (built from parts)
    format.py     the file: vcrpy's YAML layout, each request stored as a delta from the one before (read
                  by harness.yamlsubset, libyaml for anything it leaves)
    delta.py      those deltas: computed (in time linear in a conversation) and applied
    diff.py       why a request missed: the nearest recorded request and a readable diff
    scrub.py      what never reaches a file: headers but content-type; secrets (harness.secrets) masked
    mode.py       the record modes (none, new, all) and what each may do
    repeats.py    how many repeats a scenario's recording made, kept in its first cassette's metadata
    python_tests.py  a Python test's cassette name and the test that owns it (`harness_agent`)
    replay.py     replay at the floor: the file, an index and a chat model (no SDK, no vcrpy)
    recording.py  recording through the openai SDK with vcrpy (imported only when recording)

Replay imports nothing from `recording`: a replaying process never loads vcrpy or openai. This package
module imports only the record modes, so the command line and the pytest plugin can name them for free.
"""

from harness.cassettes.mode import RecordMode

__all__ = ["RecordMode"]
