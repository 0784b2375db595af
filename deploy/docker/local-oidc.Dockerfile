# The local OpenID Connect provider, for docker compose only (users in
# services/auth-gateway/local-oidc-users.json). A file of its own, so that no builder, old or new,
# ever builds it into a service image. Build from the repository root:
#   docker build -f deploy/docker/local-oidc.Dockerfile -t ecomms/oidc-provider:local .
FROM python:3.12-slim
COPY requirements-dev.txt /build/requirements-dev.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r /build/requirements-dev.txt
COPY services/auth-gateway/local-oidc-users.json /oidc/users.json
USER 65534:65534
EXPOSE 9400
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9400/.well-known/openid-configuration', timeout=2)"]
CMD ["oidc-provider-mock", "--host", "0.0.0.0", "--port", "9400", "--require-nonce", "--user-claims-file", "/oidc/users.json"]
