"""Server subcommands of the ``forestall`` CLI; each module has ``register(subparsers)``.

Their handlers import the services they run inside the function, on purpose: ``programs.cli``
imports every command module at start-up to build its parser, and ``forestall --help`` or
``forestall edge`` must not load the server stack (River and SciPy, SQLAlchemy, FastAPI,
influxdb-client). Kernel modules that need nothing heavy are imported at the top.
"""
