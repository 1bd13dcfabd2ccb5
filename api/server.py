"""Run the API (and its webhook dispatcher) with uvicorn in a background thread.

For the demo and tests::

    server = ApiServer(settings)   # host/port from settings.api unless given
    server.start()                 # returns once it accepts connections
    ...  # http://127.0.0.1:{server.port}
    server.stop()                  # graceful: finishes requests, stops the dispatcher
"""

from __future__ import annotations

import threading

import uvicorn

from api.app import create_app
from forestall.settings import Settings


class ApiServer:
    def __init__(
        self,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
        deliver_webhooks: bool = True,
        log_level: str = "warning",
    ) -> None:
        self.host = host or settings.api.host
        self.port = port if port is not None else settings.api.port
        self.app = create_app(settings, deliver_webhooks=deliver_webhooks)
        config = uvicorn.Config(
            self.app, host=self.host, port=self.port, log_level=log_level, lifespan="on", access_log=False
        )
        # Run from a thread, uvicorn leaves signal handlers alone (they belong to the main thread).
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        """Start serving; returns when listening, raises RuntimeError if it could not start."""
        if self._thread is not None:
            raise RuntimeError("ApiServer already started")
        self._thread = threading.Thread(target=self._server.run, name="forestall-api", daemon=True)
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                self._thread = None
                raise RuntimeError(f"the API did not start on {self.host}:{self.port} (see the log)")
            if waited >= timeout:
                self.stop()
                raise RuntimeError(f"the API did not start within {timeout:g} s")
            self._thread.join(0.02)
            waited += 0.02

    def stop(self, timeout: float = 30.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._server.should_exit = True
        thread.join(timeout)
