# Surge — see README.md.
GO       ?= go
BIN      ?= bin/surge
PKGS      = ./...
export SURGE_ADMIN_TOKEN ?= dev-admin-token

.PHONY: run build test e2e bench lint up down fmt

## run: start the whole platform locally (embedded Kafka, local PostgreSQL and Redis)
run: build
	SURGE_LOG_FORMAT=text ./$(BIN) serve

build:
	$(GO) build -o $(BIN) ./cmd/surge

## test: unit, contract and component tests against real PostgreSQL, Redis and Kafka protocol
test:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## e2e: end-to-end tests that run the built binary and a separate broker process
e2e: build
	SURGE_E2E_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 15m -tags e2e ./e2e/...

## bench: benchmarks, each beside its baseline from the same run
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./bench/...

lint:
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; \
	else $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

up:
	docker compose up -d --build

down:
	docker compose down -v
