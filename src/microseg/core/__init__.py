"""The bottom layer every other package may use: instants and clocks (``time``), the error
hierarchy (``errors``), durations, text helpers and the bounded YAML reader.

Nothing here imports another microseg package.
"""
