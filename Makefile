# certctl: `make run` starts one node with demo data; `make test` runs the whole suite.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO       ?= go
BIN      := bin
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
API_ADDR ?= 127.0.0.1:8443
TOOLS    := $(CURDIR)/$(BIN)/tools
MAILPIT_VERSION := v1.27.11
PEBBLE_VERSION  := v2.10.3

.PHONY: all build agent-cross run test test-deps test-unit test-wedge test-e2e bench screenshots cluster vet fmt clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/certctl ./cmd/certctl
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/certctl-agent ./cmd/certctl-agent

## agent-cross: certctl-agent for every platform it runs on, into $(BIN)/cross/.
AGENT_PLATFORMS := linux/amd64 linux/arm64 windows/amd64
agent-cross:
	@mkdir -p $(BIN)/cross
	@for p in $(AGENT_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" = windows ] && ext=.exe; \
		echo "certctl-agent for $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
			-o $(BIN)/cross/certctl-agent-$$os-$$arch$$ext ./cmd/certctl-agent; \
	done

## run: one node with demo data, no auth, in a temporary data dir.
run: build
	$(BIN)/certctl server --dev --api-addr $(API_ADDR)

## test: vet, unit tests with the race detector, the multi-process tests, then the
## packages installed, upgraded and removed with dpkg on this machine (needs root).
test: test-deps vet agent-cross test-unit test-wedge test-e2e test-package

## test-deps: what the tests run besides Go, installed when missing: openssl from
## Debian's packages (checks the Local CA's certificates and CRLs), and Mailpit, the
## SMTP server the e-mail notifier's tests send to, built with go install into
## $(TOOLS) (the tests look there). Pebble, Let's Encrypt's ACME test server, and its
## pebble-challtestsrv (DNS for the validations), the CA the ACME issuer's tests order
## from, go install'ed into $(TOOLS) the same way.
## The agent's target tests run the real web servers: nginx, Apache httpd and
## HAProxy from Debian's packages (started by the tests on 127.0.0.1, never as
## system services).
## PostgreSQL from Debian's postgresql package: the export and import tests start a
## throwaway cluster with initdb/pg_ctl (internal/pgtest) as the postgres user.
## The dashboard's browser tests (e2e/dashboard_test.go) drive Debian's
## chromium headless through chromedp; no browser is ever downloaded.
APT_TEST_PACKAGES := openssl:openssl nginx:nginx-light apache2:apache2 haproxy:haproxy chromium:chromium pg_ctl:postgresql
test-deps: $(TOOLS)/mailpit $(TOOLS)/pebble $(TOOLS)/pebble-challtestsrv
	@missing=; for pair in $(APT_TEST_PACKAGES); do \
		cmd=$${pair%%:*}; pkg=$${pair#*:}; \
		command -v $$cmd >/dev/null || [ -x /usr/sbin/$$cmd ] || ls /usr/lib/postgresql/*/bin/$$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing for the tests:$$missing"; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(TOOLS)/mailpit:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/axllent/mailpit@$(MAILPIT_VERSION)

$(TOOLS)/pebble:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION)

$(TOOLS)/pebble-challtestsrv:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

test-unit:
	$(GO) test -race -count=1 -timeout 15m $$($(GO) list ./... | grep -v /e2e)

## test-wedge: 50 trials of partition, heal and stop of a three-node cluster
## (in-process, mutual TLS, a fault-injecting network): every node stops
## within its deadline and starts clean. Without -race, which test-unit
## already ran over 10 trials.
test-wedge:
	CERTCTL_WEDGE_TRIALS=50 $(GO) test -count=1 -timeout 10m -run 'TestNode_PartitionHealCloseNeverWedges' ./node/

test-e2e: build
	CERTCTL_BIN=$(CURDIR)/$(BIN)/certctl CERTCTL_AGENT_BIN=$(CURDIR)/$(BIN)/certctl-agent $(GO) test -count=1 -timeout 20m ./e2e/...

## bench: benchmarks; figures go to docs/benchmarks.md by hand, with this command.
bench: build
	$(GO) test -run '^$$' -bench BenchmarkFSM -benchtime=3000x -count=1 ./fsm/
	$(GO) test -run '^$$' -bench . -benchtime=3x -count=1 -timeout 20m ./scheduler/
	$(GO) test -run '^$$' -bench . -benchtime=2s -count=1 ./connectors/issuer/localca/
	$(GO) test -run '^$$' -bench BenchmarkExport -benchtime=1x -count=1 -timeout 30m ./node/pgexport/
	CERTCTL_BIN=$(CURDIR)/$(BIN)/certctl CERTCTL_FLEET_WINDOW=2m $(GO) test -run '^$$' -bench . -benchtime=1x -count=1 -timeout 40m ./e2e/

## screenshots: refreshes docs/screenshots/ (every view of the dashboard on the
## demo data at 1280x720, the overview and the certificates at 390x844) from the
## browser tests, which otherwise write them to $TMPDIR/certctl-screenshots.
screenshots: build
	@command -v chromium >/dev/null || { echo "chromium is missing: run make test-deps"; exit 1; }
	rm -f docs/screenshots/*.png
	CERTCTL_SCREENSHOTS=$(CURDIR)/docs/screenshots CERTCTL_BIN=$(CURDIR)/$(BIN)/certctl CERTCTL_AGENT_BIN=$(CURDIR)/$(BIN)/certctl-agent \
		$(GO) test -count=1 -timeout 5m -run 'TestDashboard_DevNode/views' ./e2e/

## cluster: three local nodes on 127.0.0.1, joined into one cluster; Ctrl-C stops them.
cluster: build
	./scripts/cluster.sh $(BIN)/certctl

clean:
	rm -rf $(BIN) dist

.PHONY: package test-package

## package: the .deb and .rpm of certctl, and of certctl-agent once cmd/certctl-agent
## exists (until then it says so loudly and skips it), for amd64 and arm64, into dist/
## with SHA256SUMS. The version comes from git; `make package VERSION=1.2.3` sets it.
package:
	cd packaging && $(GO) run ./build -repo .. -dist $(CURDIR)/dist -go $(GO) \
		$(if $(filter command line environment,$(origin VERSION)),-version '$(VERSION)')

## test-package: builds the packages, then installs, runs, upgrades, removes and purges
## the .deb ON THIS MACHINE with dpkg (as root, or through password-less sudo; fails
## otherwise), with lintian, rpm -qip/-qlp and systemd-analyze verify; installs those
## tools with apt-get when missing.
test-package:
	cd packaging && $(GO) vet ./... && $(GO) test -p 1 -count=1 -timeout 30m -v ./...
