"""Crash torture: kill the engine at chosen or random instants, recover, and check.

``policy.TorturePolicy`` is a deterministic, restart-safe script (LIMIT entries
with partial fills, cancels, two-leg exits). ``sim`` crashes an in-process run
on the sim venue at exact points; ``bingx`` runs the engine in a subprocess
against the BingX emulator in another process and SIGKILLs it. ``checks``
holds the invariants both verify.
"""
