"""Server subcommands of the ``forestall`` CLI; each module has ``register(subparsers)``."""
