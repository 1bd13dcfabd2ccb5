"""The programs: the ``forestall`` command line and what it runs (the demo, the backtests),
wiring the services (``edge_agent``, ``ingest``, ``predictor``, ``api``, ``grafana``,
``simulators``) on top of the kernel (``forestall``). Nothing below imports this package."""
