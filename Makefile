# Thin targets: each calls a script under scripts/ that also works on its own.
.PHONY: up test lint smoke clean check demo bench bench-10m drills fuzz

up:     ## install everything into .venv, start PostgreSQL, migrate, run every process (Ctrl-C stops all)
	scripts/up

demo:   ## against a running `make up`: log in, upload a catalog, average prices, an order, its SMS and email
	scripts/demo

test:   ## lint, then every package's tests in its own venv against PostgreSQL and RabbitMQ
	scripts/test

fuzz:   ## Schemathesis over every operation of catalog, orders and the gateway, as anonymous, customer and admin (long run)
	scripts/fuzz

drills: ## fault drills: the whole stack while processes die and servers fail; writes var/drills/report.md
	scripts/drills

lint:   ## ruff check and format check over the whole repository
	scripts/lint

check:  ## deployment artefacts: Dockerfiles, image commands, compose, k8s/, workflows
	scripts/check

bench:  ## every benchmark at full size into docs/benchmarks.md (long; wants a quiet machine)
	scripts/bench

bench-10m:  ## the catalog at 10,000,000 products beside its 1,000,000 figures into docs/benchmarks.md, on a PostgreSQL server of its own sized for it (long; not in make test)
	scripts/bench-10m

smoke:  ## start the local stack, check every probe answers, stop it
	scripts/smoke

clean:  ## stop the local PostgreSQL servers, then remove virtual environments, databases (var/) and run state
	scripts/local-postgres stop --all
	rm -rf .venv .venvs var
