# facerec — top-level entry points. The build itself is CMake; this file only strings the steps together.
#
#   make build   install missing Debian packages, fetch + verify the models, configure and build in build/
#   make serve   make build, then start the API on 127.0.0.1:8080 with the embedded SQLite gallery (facerec.db)
#   make test    make build, run every test (ctest), then an ASan+UBSan build in build-asan/ running the
#                hostile, op, unit, image, gallery, face, HTTP server and golden tests
#   make bench   make build, set up the peer runtimes (bench/peers/setup), run every bench program
#   make clean   remove build/ and build-asan/ (models/ and .cache/ stay; `make distclean` also drops .cache/)
#
# Knobs: JOBS (parallel compile jobs, default nproc), CTEST_ARGS (extra ctest arguments, e.g. -R golden).

JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
BUILD      := build
ASAN_BUILD := build-asan
CTEST_ARGS ?=
ASAN_TESTS := ^(hostile|ops|unit|image|gallery|face|http|golden)/|^video/test_video(_live)?$$|test_model_cli

.PHONY: all build test test-asan bench deps models peers serve clean distclean

all: build

deps:
	scripts/install-deps

models: deps
	scripts/fetch-models

build: models
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure $(CTEST_ARGS)
	$(MAKE) --no-print-directory test-asan

# Sanitizer pass: Release flags (-O2 -g) plus -fsanitize=address,undefined, no recovery.
test-asan: models
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DFR_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -R '$(ASAN_TESTS)' $(CTEST_ARGS)

peers:
	bench/peers/setup

# Every bench program (build/bench/bench_*) runs from the repository root; the peer scripts it may call are in
# bench/peers/ and find the peer runtimes through FR_PEERS_DIR.
bench: build peers
	@set -e; found=0; for b in $(BUILD)/bench/bench_*; do \
	  [ -x "$$b" ] || continue; found=1; \
	  echo "== $$b"; FR_PEERS_DIR=$(CURDIR)/.cache/peers "$$b"; \
	done; [ $$found = 1 ] || { echo "no bench programs in $(BUILD)/bench"; exit 1; }

# LISTEN / DB override the defaults: make serve LISTEN=127.0.0.1:9000 DB=/var/lib/facerec/facerec.db
LISTEN ?= 127.0.0.1:8080
DB     ?= facerec.db
serve: build
	FR_MODELS_DIR=$(CURDIR)/models $(BUILD)/facerec serve --listen $(LISTEN) --db $(DB)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

distclean: clean
	rm -rf .cache
