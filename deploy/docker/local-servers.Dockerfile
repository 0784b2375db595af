# The local servers that stand in for the outside world, for docker compose only: the OpenID
# Connect provider (oidc-provider-mock; users in services/auth-gateway/local-oidc-users.json) and
# the stand-ins of libs/standins (ecomms-sms-standin, ecomms-smtp-sink, ...). One image, each
# compose service naming its command; the default is the OIDC provider. A file of its own, so
# that no builder, old or new, ever builds any of it into a service image. Build from the
# repository root:
#   docker build -f deploy/docker/local-servers.Dockerfile -t ecomms/local-servers:local .
FROM python:3.12-slim
COPY requirements-dev.txt /build/requirements-dev.txt
COPY libs/standins /build/libs/standins
RUN pip install --no-cache-dir --disable-pip-version-check \
        -r /build/requirements-dev.txt -r /build/libs/standins/requirements.txt \
    && pip install --no-cache-dir --disable-pip-version-check --no-deps /build/libs/standins
COPY services/auth-gateway/local-oidc-users.json /oidc/users.json
USER 65534:65534
EXPOSE 9400 9402
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9400/.well-known/openid-configuration', timeout=2)"]
CMD ["oidc-provider-mock", "--host", "0.0.0.0", "--port", "9400", "--require-nonce", "--user-claims-file", "/oidc/users.json"]
