"""pytest plugin: collects scenario files as tests (filled in by the scenarios work)."""
