# Surge — see README.md.
GO       ?= go
BIN      ?= bin/surge
PKGS      = ./...
export SURGE_ADMIN_TOKEN ?= dev-admin-token

.PHONY: run build test e2e chaos bench lint up down fmt

## run: start the whole platform locally (embedded Kafka, local PostgreSQL and Redis); unless
## SURGE_PRICE_VENDORS is set, simulated price vendors (surge vendor-sim) run beside it and stop with it
VENDOR_SIM_ADDR  ?= 127.0.0.1:9300
VENDOR_SIM_FLAGS ?= --vendors a,b,c --latency 300ms --jitter 50ms --failure-rate 0
# make forwards SIGTERM to its recipe, but on a SIGINT sent to make alone
# (not to the terminal's whole process group, as Ctrl-C does) it only waits
# for the recipe to end. The one trace of that SIGINT is that make stops
# catching it (its handler resets it to the default): this watcher sees so
# in /proc and stops the recipe (Linux; elsewhere it does nothing).
define MAKE_SIGINT_WATCH
caught() { s=$$(awk '/^SigCgt/{print $$2}' /proc/$$PPID/status 2>/dev/null) || return 1; \
  case "$$s" in *[2367abef]) return 0;; esac; return 1; }; \
if caught; then ( while kill -0 $$srv 2>/dev/null; do caught || { kill -TERM $$$$; break; }; sleep 0.3; done ) & watch=$$!; fi;
endef

run: build
	@export SURGE_LOG_FORMAT=text; sim=; srv=; watch=; \
	stop() { kill -TERM $$srv $$sim 2>/dev/null; }; \
	trap stop INT TERM; \
	if [ -z "$$SURGE_PRICE_VENDORS" ]; then \
	  out=$$(mktemp); \
	  ./$(BIN) vendor-sim --addr $(VENDOR_SIM_ADDR) $(VENDOR_SIM_FLAGS) >"$$out" & sim=$$!; \
	  for i in $$(seq 50); do grep -q '^SURGE_PRICE_VENDORS=' "$$out" && break; kill -0 $$sim 2>/dev/null || exit 1; sleep 0.1; done; \
	  export "$$(grep '^SURGE_PRICE_VENDORS=' "$$out")"; rm -f "$$out"; \
	  echo "vendor-sim on $(VENDOR_SIM_ADDR): $$SURGE_PRICE_VENDORS"; \
	fi; \
	./$(BIN) serve & srv=$$!; \
	$(MAKE_SIGINT_WATCH) \
	wait $$srv; status=$$?; \
	while kill -0 $$srv 2>/dev/null; do wait $$srv; status=$$?; done; \
	[ -n "$$watch" ] && kill $$watch 2>/dev/null; \
	[ -n "$$sim" ] && { kill -TERM $$sim 2>/dev/null; wait $$sim; }; \
	case $$status in 130|143) status=0;; esac; exit $$status

build:
	$(GO) build -o $(BIN) ./cmd/surge

## test: unit, contract and component tests against real PostgreSQL, Redis and Kafka protocol
test:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## e2e: end-to-end tests that run the built binary and a separate broker process
e2e: build
	@npm ci --prefix e2e/node --no-audit --no-fund --loglevel=error >/dev/null
	SURGE_E2E_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 15m -tags e2e ./e2e/...

## chaos: the built binary through failures the tests control (broker killed, Redis flushed or
## black-holed, PostgreSQL cut, hostile clients); see chaos/harness_test.go
chaos: build
	SURGE_CHAOS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -tags chaos -v ./chaos/...

## bench: benchmarks, each beside its baseline from the same run
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./bench/...

## lint: gofmt, go vet, staticcheck, and the architecture check (.golangci.yml: which package may import which)
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; \
	else $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...; fi
	@if command -v golangci-lint >/dev/null 2>&1; then golangci-lint run ./...; \
	else $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...; fi

## console-deps: refresh the console's vendored browser libraries (api/console/vendor/) from npm:
## the ES-module build of @stomp/stompjs at STOMPJS_VERSION, its package.json and licence
STOMPJS_VERSION ?= 7.5.0
.PHONY: console-deps
console-deps:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	dest=$(CURDIR)/api/console/vendor/stompjs; \
	( cd "$$tmp" && npm pack --silent --no-fund --no-audit @stomp/stompjs@$(STOMPJS_VERSION) >/dev/null && tar xzf stomp-stompjs-$(STOMPJS_VERSION).tgz ); \
	rm -rf "$$dest"; mkdir -p "$$dest"; \
	( cd "$$tmp/package/esm6" && find . -name '*.js' | tar -cf - -T - ) | tar -xf - -C "$$dest"; \
	cp "$$tmp/package/LICENSE" "$$tmp/package/package.json" "$$dest/"; \
	echo "api/console/vendor/stompjs: @stomp/stompjs $$(sed -n 's/^  "version": "\(.*\)",/\1/p' "$$dest/package.json") ($$(find "$$dest" -name '*.js' | wc -l) modules); update api/console/vendor/README.md if the version changed"

fmt:
	gofmt -w $$(git ls-files '*.go')

up:
	docker compose up -d --build

down:
	docker compose down -v
