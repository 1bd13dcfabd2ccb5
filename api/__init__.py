"""The Forestall HTTP API (docs/ARCHITECTURE.md, HTTP API) and webhook delivery from the outbox.

Layout follows the FastAPI full-stack template's backend: ``app.py`` builds the app,
``deps.py`` holds the ``Annotated`` dependencies, ``routes/`` one module per resource,
``schemas/`` the Create/Update/Public models, ``crud/`` the data layer (returns values or
None, never HTTP errors) and ``webhooks/`` the delivery worker.
"""
