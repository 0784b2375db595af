# The one image recipe of the four services. Build from the repository root (libs/common is part of
# the context), naming the service's folder, its port and its default command:
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=catalog --build-arg PORT=8001 \
#     -t ecomms/catalog .
#   docker build -f deploy/docker/service.Dockerfile --build-arg SERVICE=notifier --build-arg PORT=8003 \
#     --build-arg "COMMAND=python manage.py consume" -t ecomms/notifier .
# The arguments of each service are in docker-compose.yml (x-build-*), which the workflows and the
# deployment tests read. Web services run gunicorn, which reads the service's gunicorn.conf.py (bind
# address and application); one-off and background commands (migrate, relay_outbox) are given by
# the deployment.

# --- builder: a virtual environment with the pinned requirements, libs/common and the service ---
FROM python:3.12-slim AS builder
ARG SERVICE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY services/${SERVICE}/requirements.txt /build/requirements.txt
RUN pip install --no-cache-dir -r /build/requirements.txt
COPY libs/common /build/libs/common
RUN pip install --no-cache-dir --no-deps /build/libs/common
COPY services/${SERVICE} /app
WORKDIR /app
# Static files (the API docs' assets) are collected once here; WhiteNoise serves them. The code is
# compiled here too: the runtime's root filesystem is read-only. Settings insist on a database
# URL and, with DEBUG off, a strong SECRET_KEY; collectstatic connects to no database and signs
# nothing, so a key generated for this step alone (not kept in the image) serves.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    STATIC_ROOT=/app/staticfiles DATABASE_URL=postgres:///collectstatic \
    python manage.py collectstatic --noinput \
    && rm -rf /app/tests /app/requirements-test.txt \
    && python -m compileall -q /app

# --- runtime: no compilers, no tests, a non-root user ---
# Web processes run with PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus (compose, k8s: an emptyDir) so
# that /metrics adds up every gunicorn worker; the migrate and other one-off commands from this
# image must run without it (prometheus_client switches mode on the variable's mere presence).
FROM python:3.12-slim
ARG PORT
ARG COMMAND=gunicorn
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STATIC_ROOT=/app/staticfiles \
    WHITENOISE_USE_FINDERS=false \
    HOST=0.0.0.0 \
    PORT=${PORT} \
    SERVICE_COMMAND="${COMMAND}"
RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
USER 10001:10001
EXPOSE ${PORT}
# Every long-running command of these images (web, consume, relay_outbox) answers /healthz on PORT.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=2)"]
# exec: the command, not the shell, is PID 1 and gets the stop signal.
CMD ["/bin/sh", "-c", "exec $SERVICE_COMMAND"]
