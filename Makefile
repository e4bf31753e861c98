# portico: `make run` starts the demo, `make test` runs every test. Both install what is missing.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
# Seconds of fuzzing per target: bounded in make test, longer with make fuzz.
FUZZ_TIME  ?= 60
GENERATOR  := -G Ninja
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan build-fuzz run test test-release test-e2e test-e2e-real test-asan \
	test-fuzz fuzz conformance bench bench-overhead bench-profile bench-k8s bench-scale bench-workers clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

# The sanitizer build is optimised with NDEBUG like libcpprest: a Debug build of our code makes
# the executable's copies of Boost.Asio's inline functions (which libcpprest binds to) differ
# from the ones libcpprest was built with, and cpprestsdk crashes in start_request.
$(ASAN_BUILD)/build.ninja: | deps
	cmake -S . -B $(ASAN_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DPORTICO_SANITIZE=ON -DPORTICO_BENCH=OFF

$(FUZZ_BUILD)/build.ninja:
	@scripts/install-deps.sh fuzz
	CXX=clang++ cmake -S . -B $(FUZZ_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPORTICO_FUZZ=ON

build-fuzz: $(FUZZ_BUILD)/build.ninja
	@scripts/install-deps.sh fuzz
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

run: build
	scripts/run-demo.sh $(BUILD)

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 300

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j 2 --timeout 600

test-e2e: build
	e2e/local/run.sh $(BUILD)

# A real etcd and kube-apiserver, built once per version from the Go module proxy.
test-e2e-real: build
	e2e/real/run.sh $(BUILD)

test-fuzz: build-fuzz
	scripts/run-fuzz.sh $(FUZZ_BUILD) 30

fuzz: build-fuzz
	scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_TIME)

test: test-release test-e2e test-e2e-real test-asan test-fuzz

bench: build
	@scripts/install-deps.sh bench
	bench/run.sh $(BUILD)

conformance: build
	@scripts/install-deps.sh bench
	tests/conformance/h1_conformance.py --portico portico=$(BUILD)/src/portico

bench-overhead: build
	@scripts/install-deps.sh bench
	bench/overhead.sh $(BUILD)

bench-profile: build
	@scripts/install-deps.sh bench
	bench/profile.sh $(BUILD)

bench-k8s: build
	bench/k8s_latency.py $(BUILD)

bench-scale: build
	bench/scale.py $(BUILD)

bench-workers: build
	@scripts/install-deps.sh bench
	bench/workers.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
