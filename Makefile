# redtap: `make test` is the whole test suite (what .ci/run runs).
GO          ?= go
STATICCHECK ?= $(shell command -v staticcheck 2>/dev/null || echo $(HOME)/go/bin/staticcheck)
STATICCHECK_VERSION ?= v0.8.2
FUZZTIME    ?= 20s
export REDTAP_CORPUS ?= $(wildcard $(abspath ../shared/rdb-corpus))

.PHONY: test lint vet staticcheck unit fuzz bench demo

## test: formatting, vet, staticcheck, all tests with -race, a short fuzz pass
test: lint unit fuzz

lint: vet staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(STATICCHECK) ./...

unit:
	$(GO) test -race -timeout 20m ./...

## fuzz: every fuzz target for FUZZTIME each (seed corpora run in `unit` already)
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## bench: decoder micro-benchmarks (see BENCHMARKS.md for whole-program runs)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./rdb/
