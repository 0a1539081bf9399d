# Surge — see README.md.
GO       ?= go
BIN      ?= bin/surge
PKGS      = ./...
export SURGE_ADMIN_TOKEN ?= dev-admin-token

.PHONY: run build test e2e bench lint up down fmt

## run: start the whole platform locally (embedded Kafka, local PostgreSQL and Redis); unless
## SURGE_PRICE_VENDORS is set, simulated price vendors (surge vendor-sim) run beside it and stop with it
VENDOR_SIM_ADDR  ?= 127.0.0.1:9300
VENDOR_SIM_FLAGS ?= --vendors a,b,c --latency 300ms --jitter 50ms --failure-rate 0
run: build
	@export SURGE_LOG_FORMAT=text; \
	if [ -z "$$SURGE_PRICE_VENDORS" ]; then \
	  out=$$(mktemp); \
	  ./$(BIN) vendor-sim --addr $(VENDOR_SIM_ADDR) $(VENDOR_SIM_FLAGS) >"$$out" & sim=$$!; \
	  trap 'kill $$sim 2>/dev/null; rm -f "$$out"' EXIT; trap 'exit 130' INT TERM; \
	  for i in $$(seq 50); do grep -q '^SURGE_PRICE_VENDORS=' "$$out" && break; kill -0 $$sim 2>/dev/null || exit 1; sleep 0.1; done; \
	  export "$$(grep '^SURGE_PRICE_VENDORS=' "$$out")"; \
	  echo "vendor-sim on $(VENDOR_SIM_ADDR): $$SURGE_PRICE_VENDORS"; \
	fi; \
	./$(BIN) serve

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
