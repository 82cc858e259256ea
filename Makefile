# rtsa — the seed's make targets. `make` (or `make help`) lists them. Docs: docs/makefile.md.
#
# The distributed stack runs with Docker Compose (docker-compose.yml); `make dev` runs everything
# in one process without Docker (npm start).

SHELL := /bin/bash
.DEFAULT_GOAL := help

DOCKER ?= docker
COMPOSE ?= $(DOCKER) compose
# Processors in the consumer group (`make up PROCESSORS=3`); at most the topic's 6 partitions do work.
PROCESSORS ?= 1
# Service for `make logs` (empty: all), e.g. `make logs s=processor`.
s ?=
# Extra flags for smoke / doctor, e.g. `make smoke ARGS="--wait 2m"`.
ARGS ?=
PROMETHEUS_URL ?= http://prometheus:9090
# Logical date for `make submit-batch` (empty: yesterday, UTC), e.g. `make submit-batch DATE=2024-12-17`.
DATE ?=

.PHONY: help up down reset smoke doctor ps logs build obs-up dev test smoke-dev doctor-dev check-docker \
  submit-bronze submit-silver submit-all submit-batch status logs-spark logs-kafka postgres-shell kafka-topics

help: ## Show the targets (this list)
	@echo "rtsa — real-time streaming analytics. Usage: make <target> [VAR=value]"
	@echo
	@if [ -t 1 ]; then c='\033[36m'; r='\033[0m'; else c=''; r=''; fi; \
	  awk -v c="$$c" -v r="$$r" 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %s%-14s%s %s\n", c, $$1, r, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: PROCESSORS=$(PROCESSORS) (up), s=<service> (logs), ARGS=... (smoke, doctor), DATE=YYYY-MM-DD (submit-batch)"

check-docker:
	@command -v $(DOCKER) > /dev/null 2>&1 || { \
	  echo "make $(MAKECMDGOALS): needs Docker, and '$(DOCKER)' is not installed."; \
	  echo "  Install Docker (Engine or Desktop) with the Compose plugin: https://docs.docker.com/get-docker/"; \
	  echo "  Without Docker, run everything in one process: make dev   (then make smoke-dev)"; \
	  exit 1; }
	@$(COMPOSE) version > /dev/null 2>&1 || { \
	  echo "make $(MAKECMDGOALS): needs Docker Compose v2, and '$(COMPOSE)' does not work."; \
	  echo "  Install the Compose plugin (package docker-compose-plugin): https://docs.docker.com/compose/install/"; \
	  echo "  Without Docker, run everything in one process: make dev   (then make smoke-dev)"; \
	  exit 1; }
	@$(DOCKER) info > /dev/null 2>&1 || { \
	  echo "make $(MAKECMDGOALS): the Docker daemon is not reachable ('$(DOCKER) info' fails)."; \
	  echo "  Start Docker (Docker Desktop, or: sudo systemctl start docker) and check you may use it."; \
	  exit 1; }

up: check-docker ## Build the image and start the stack; waits until every service is healthy
	$(COMPOSE) up -d --build --wait --wait-timeout 300 --scale processor=$(PROCESSORS)
	@echo
	@echo "rtsa is up:  API http://localhost:8000   Grafana http://localhost:3000   Prometheus http://localhost:9090"
	@echo "next:        make smoke    (end-to-end checks)    make doctor    (diagnosis)"

down: check-docker ## Stop and remove the containers; data volumes are kept
	$(COMPOSE) --profile tools down --remove-orphans

reset: check-docker ## Stop and delete everything, data volumes included (fresh Kafka, Postgres, Grafana)
	$(COMPOSE) --profile tools down --volumes --remove-orphans
	@echo "All rtsa volumes deleted. Start afresh with: make up"

smoke: check-docker ## Run the end-to-end smoke checks against the running stack (exit 1 on failure)
	$(COMPOSE) run --rm ops smoke --prometheus-url $(PROMETHEUS_URL) $(ARGS)

doctor: check-docker ## Diagnose the running stack: what is down or lagging, and what to do
	$(COMPOSE) run --rm ops doctor --prometheus-url $(PROMETHEUS_URL) $(ARGS)

ps: check-docker ## Show the services, their state and health (one-shot migrate included)
	$(COMPOSE) ps --all

logs: check-docker ## Follow the logs (all services, or one: make logs s=processor)
	$(COMPOSE) logs --follow --tail=200 $(s)

status: check-docker ## Check service health: every service's state, then the API's /health
	$(COMPOSE) ps --all --format 'table {{.Service}}\t{{.State}}\t{{.Health}}\t{{.Status}}'
	@echo
	$(COMPOSE) exec api node -e "fetch('http://127.0.0.1:8000/health').then(async (r) => { console.log(r.status, await r.text()); process.exit(r.ok ? 0 : 1) }, (e) => { console.error('API not answering:', e.message); process.exit(1) })"

logs-spark: check-docker ## Follow the logs of the jobs that replace the seed's Spark: lake writers, scheduler, worker
	$(COMPOSE) logs --follow --tail=200 lake-bronze lake-silver scheduler worker

logs-kafka: check-docker ## Follow the Kafka broker's logs
	$(COMPOSE) logs --follow --tail=200 kafka

postgres-shell: check-docker ## Open psql on the stack's Postgres (database rtsa: schemas public, warehouse, marts)
	$(COMPOSE) exec postgres psql -U rtsa -d rtsa

kafka-topics: check-docker ## List the Kafka topics (stream.events, events_raw) with their partitions
	$(COMPOSE) exec kafka /opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 --describe --exclude-internal

build: check-docker ## Build the rtsa image (rtsa:local) without starting anything
	$(COMPOSE) build

obs-up: check-docker ## Start only Prometheus and Grafana (for a stack already running)
	$(COMPOSE) up -d --wait prometheus grafana

submit-bronze: check-docker ## Start the bronze lake writer (events_raw into s3://lake/bronze; part of `make up`)
	$(COMPOSE) up -d --wait lake-bronze

submit-silver: check-docker ## Start the silver lake writer (validated, deduplicated, sessionized; part of `make up`)
	$(COMPOSE) up -d --wait lake-silver

submit-all: check-docker ## Start both lake writers
	$(COMPOSE) up -d --wait lake-bronze lake-silver

submit-batch: check-docker ## Load silver into the warehouse for DATE (default yesterday, UTC): make submit-batch DATE=2024-12-17
	$(COMPOSE) run --rm batch warehouse load $(if $(DATE),--date $(DATE),)

dev: ## Run everything in one process without Docker (npm start: API on :8000)
	npm start

smoke-dev: ## Smoke checks against `make dev` (the embedded stack in ./data)
	npm run --silent rtsa -- smoke $(ARGS)

doctor-dev: ## Diagnose `make dev` (the embedded stack in ./data)
	npm run --silent rtsa -- doctor $(ARGS)

test: ## Type-check, lint and run the tests (npm test)
	npm test
