"""The application: the composition root that wires a run from its options.

Everything below it (kernel, journal, venues, policies, engine, recovery,
reporting) is a part; this package puts the parts together for one command:

* ``runner``: a simulated run (data, instruments, policy, sim venue, journal);
  ``runconfig``: its settings from flags, environment, a config file and defaults.
* ``live``: a run on BingX (live, VST demo or a loopback emulator), supervised
  and restarted through recovery; ``wiring``: its wire capture and replay.
* ``resume``: start-up on an existing journal, packaged for ``dita recover``
  (reconcile, then stop); ``rerun``: an interrupted simulated run continued.

The CLI (``dita.cli``) is the only layer above; ``tests/test_layers.py``
checks that nothing below imports this package.
"""
