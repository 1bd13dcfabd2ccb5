# The worker, the API, the migrations and the demo's simulators (docker-compose.yml builds it).
# The base image is pinned to an exact release; the Python packages come from the hashed lock
# requirements/server.txt only (made by the command at its top, from pyproject.toml).
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The services run as this user, never as root; their volumes' mount points are its own.
RUN groupadd --system --gid 10001 forestall \
    && useradd --system --uid 10001 --gid forestall --home-dir /var/lib/forestall --shell /usr/sbin/nologin forestall \
    && install -d -o forestall -g forestall -m 0750 /var/lib/forestall /demo

WORKDIR /app
# The dependencies first, in a layer of their own that changes only with the lock.
COPY requirements/server.txt requirements/server.txt
RUN pip install --require-hashes --no-deps -r requirements/server.txt
# The project itself, built with the locked setuptools and nothing more from the index.
COPY . /app
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && rm -rf /app/build

USER forestall:forestall
WORKDIR /var/lib/forestall
CMD ["forestall", "--help"]
