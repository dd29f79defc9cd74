"""The application layer: the commands that load aggregates, decide and save (spec §4.1).

The CLI and the HTTP API call these same commands; no rule is written twice.
"""
