#!/bin/sh
# One database per service, each owned by a login role of the same name (not a superuser) that is
# the only role besides superusers allowed to connect to it: the services connect as these roles.
# Run once on an empty data volume by the postgres image (/docker-entrypoint-initdb.d), in
# Kubernetes (ConfigMap postgres-init) and in docker-compose.yml. Each role's password comes from
# <DATABASE>_DATABASE_PASSWORD: CATALOG_, ORDERS_, AUTH_ and NOTIFIER_DATABASE_PASSWORD.
for database in catalog orders auth notifier; do
  variable="$(echo "$database" | tr '[:lower:]' '[:upper:]')_DATABASE_PASSWORD"
  if ! password=$(printenv "$variable") || [ -z "$password" ]; then
    echo "init-databases: $variable is not set" >&2
    exit 1
  fi
  psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set=name="$database" --set=password="$password" <<'SQL' || exit 1
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
