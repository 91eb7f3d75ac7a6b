"""Test harnesses, for the tests and ``bench/`` only: the product never imports this package.

* ``torture``: crash and fault torture (kill the engine, damage storage, inject HTTP
  faults; recover and check every invariant of ``torture.checks``).
* ``mock_venue``: the scripted ``MockVenue`` (per order and action, synchronous and
  deterministic).
* ``synthetic_journals``: journals with real content written from a seed, for the
  ClickHouse sink's tests and benchmark.

``tests/test_layers.py`` fails if a module outside this package imports it.
"""
