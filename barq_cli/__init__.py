"""The ``barq`` command line: new, dev, run, routes, stats."""
