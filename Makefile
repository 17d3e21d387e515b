# How Web Servers Work: the course's commands. Run `make help` for the list.

CHAPTER ?= 1
# The two-digit folder of a chapter: chapters/01-blocking, solutions/01-blocking, ...
SLUG = $(notdir $(firstword $(wildcard chapters/$(shell printf '%02d' $(CHAPTER))-*)))
GRADE_FLAGS ?=
# Where present serves the slides (make slides SLIDES_HTTP=127.0.0.1:4000 for another port).
SLIDES_HTTP ?= 127.0.0.1:3999
MODULES = chapters harness grader solutions

# Offline: `make workshop-prep` puts every module the course uses in .offline/gomod (a Go module cache). Once it
# is there, every command below takes its modules from it and fetches nothing (GOPROXY=off): a room with no
# network works. workshop-prep itself runs with the environment's own proxy settings, kept in ONLINE first.
OFFLINE = $(CURDIR)/.offline/gomod
ONLINE := $(if $(filter environment%,$(origin GOPROXY)),GOPROXY='$(GOPROXY)',-u GOPROXY)
ifneq ($(wildcard $(OFFLINE)/cache/download),)
export GOMODCACHE := $(OFFLINE)
export GOPROXY := off
endif

# The course's tools are built into .grader/ (built rather than go run, which would add its own "exit status 1"
# to a failing grade, and report the grader's exit status 2, a usage or build error, as 1).
# $(call build,NAME,PACKAGE,WHAT,HOW LONG) builds one, saying so the first time, when it takes a while; later
# builds come from Go's cache.
BIN = .grader
build = { test -x $(BIN)/$(1) || echo "building $(3) (first time only, $(4))…"; go build -o $(BIN)/$(1) $(2); }
GRADER = $(call build,grader,./grader,the grader,up to a minute) && $(BIN)/grader
PRESENT = $(call build,present,golang.org/x/tools/cmd/present,the slides tool,about 30 s)

.PHONY: help check answer grade solution hint watch grader test vet modules test-unit docs docs-check slides slides-check bench \
	workshop-prep mutants clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# A chapter's step tests are its TestStepN functions (chapters/NN-slug/stepN_*_test.go). check runs them step by
# step, in order, with the race detector, and stops at the first step that fails; STEP=N runs step N alone.
STEP ?=
check: ## run the step tests of CHAPTER=N in order, up to the first that fails (STEP=S: step S alone)
	@pkg=./chapters/$(SLUG); \
	list=$$(go test -list '^TestStep[0-9]' $$pkg 2>&1) || { printf '%s\n' "$$list"; echo "make check: chapters/$(SLUG) does not build (above)"; exit 1; }; \
	steps=$$(printf '%s\n' "$$list" | sed -n 's/^TestStep\([0-9][0-9]*\).*/\1/p' | sort -nu); \
	if [ -z "$$steps" ]; then echo "chapters/$(SLUG) has no step tests"; exit 1; fi; \
	if [ -n "$(STEP)" ]; then \
		echo "$$steps" | grep -qx '$(STEP)' || { echo "chapters/$(SLUG) has no step $(STEP): its steps are" $$steps; exit 1; }; \
		steps=$(STEP); \
	fi; \
	for s in $$steps; do \
		if out=$$(go test -race -count=1 -timeout 2m -run "^TestStep$${s}[^0-9]" $$pkg 2>&1); then \
			echo "PASS step $$s:" $$(printf '%s\n' "$$list" | grep "^TestStep$${s}[^0-9]"); \
		else \
			printf '%s\n' "$$out" | grep -v '^FAIL$$\|^FAIL	'; \
			echo "FAIL step $$s: read the README's \"Step $$s\", fix what the tests above say, and run make check CHAPTER=$(CHAPTER) STEP=$$s again"; \
			exit 1; \
		fi; \
	done; \
	if [ -z "$(STEP)" ]; then echo "Every step passes. Now grade the whole server: make grade CHAPTER=$(CHAPTER)"; fi

# The answers are in the chapter's README, under Answers; answer prints one, with its code from the real files.
answer: ## print the reference answer to step STEP=S of CHAPTER=N
	@test -n "$(STEP)" || { echo "make answer needs a step: make answer CHAPTER=$(CHAPTER) STEP=3"; exit 2; }
	@test -n "$(SLUG)" || { echo "there is no chapter $(CHAPTER) (no chapters/$$(printf '%02d' $(CHAPTER))-* folder)"; exit 2; }
	@$(call build,docs,./grader/cmd/docs,the docs tool,a few seconds) && $(BIN)/docs -answer $(STEP) chapters/$(SLUG)/README.md

grade: ## grade your server for CHAPTER=N (chapters/NN-slug)
	@$(GRADER) -chapter $(CHAPTER) $(GRADE_FLAGS)

solution: ## grade the reference solution of CHAPTER=N
	@$(GRADER) -chapter $(CHAPTER) -dir solutions/$(SLUG) $(GRADE_FLAGS)

hint: ## the hint for the first spec that the last grade of CHAPTER=N did not pass
	@$(GRADER) -chapter $(CHAPTER) -hint

watch: ## re-grade CHAPTER=N each time you save a file of it
	@$(GRADER) -chapter $(CHAPTER) -watch $(GRADE_FLAGS)

grader: ## build the grader as .grader/grader, to run it yourself (-cmd, -dir, -o: see grader/README.md)
	@$(call build,grader,./grader,the grader,up to a minute)

# Each stage says what it checks as it starts.
test: vet modules test-unit docs-check slides-check ## the repository's own checks (what CI runs)
	@echo "make test: all checks passed"

vet:
	@echo "== test: gofmt and go vet"
	@test -z "$$(gofmt -l chapters solutions harness grader)" || { gofmt -l chapters solutions harness grader; echo "gofmt: the files above need formatting"; exit 1; }
	@go vet ./chapters/... ./solutions/... ./harness/... ./grader/...

# Every module stands on its own: it builds outside the workspace, and its go.mod is tidy.
CHECK_MODULES = for m in $(MODULES); do \
		(cd $$m && GOWORK=off go build ./... && GOWORK=off go mod tidy -diff >/dev/null) || { echo "module $$m: does not build with GOWORK=off, or go.mod is not tidy (cd $$m && GOWORK=off go mod tidy)"; exit 1; }; \
	done
modules:
	@echo "== test: every module builds on its own, its go.mod is tidy, and go.work.sum is what Go writes"
	@$(CHECK_MODULES)
	@.ci/worksum

# The starters (chapters/NN-slug) are left out: their step tests fail until the learner's work is done. The
# self-check (grader/selfcheck_test.go) shows that they fail on each starter and pass on its solution.
test-unit:
	@echo "== test: unit tests, every solution graded, every starter and known-bad server failing (about 5 min on 2 cores; course/grader, last, is the long one)"
	@go test -race -count=1 -timeout 15m -parallel 4 $$(go list ./chapters/... | grep -v '/chapters/\(0[1-9]\|[1-9][0-9]\)-') ./solutions/... ./harness/... ./grader/...

# make mutants grades every chapter unless CHAPTER is given on the command line or in the environment.
MUTANT ?=
MUTANTS_FLAGS ?=
mutants: ## plant known bugs in the solutions and grade each: the mutation score (CHAPTER=N, MUTANT=name, MUTANTS_FLAGS=-fast)
	@$(call build,mutants,./grader/cmd/mutants,the mutation tester,up to a minute) && $(BIN)/mutants \
		$(if $(filter command line environment,$(origin CHAPTER)),-chapter $(CHAPTER)) \
		$(if $(MUTANT),-mutant $(MUTANT)) $(MUTANTS_FLAGS)

docs: ## refresh the code excerpts in the chapters from the real files
	go run ./grader/cmd/docs

docs-check:
	@echo "== test: the code in the chapters is the code in the files"
	@go run ./grader/cmd/docs -check

# exec: present takes the shell's place as make's child, so stopping make (Ctrl-C, or kill PID: make passes
# SIGTERM on to its child) stops present too, and frees the port.
slides: ## serve the slides at http://127.0.0.1:3999/slides/
	@$(PRESENT)
	@echo "Open http://$(SLIDES_HTTP)/slides/ (Ctrl-C to stop)"
	@exec $(BIN)/present -http $(SLIDES_HTTP) -content . -notes

# Decks being rewritten: their problems are printed, and do not fail the check until the new deck lands.
SLIDES_REPORT_ONLY =
slides-check: ## check every slide in headless Chromium: nothing past its page, no stray backtick
	@echo "== test: the slides, in headless Chromium"
	@$(PRESENT)
	@go run ./grader/cmd/slidecheck -present $(BIN)/present -report-only '$(SLIDES_REPORT_ONLY)'

bench: ## measure: our load generator against wrk, the servers beside net/http, the prefork server beside gunicorn, the daemon server beside mod_wsgi, gunicorn and uWSGI
	@bash bench/loadgen.sh; status=$$?; bash bench/servers.sh && bash bench/prefork.sh && bash bench/daemon.sh && exit $$status

# Run it once where the network is good (or have the instructor run it and copy the folder to each laptop, then
# run it there once more: it fetches nothing then, and only compiles). Step 1 runs go mod tidy -diff as well as
# go mod download: tidy also loads the tests of the modules the course uses, and -diff fetches what it needs
# without changing any file; and go list -m all in the workspace, whose graph (what .ci/worksum and an editor's
# gopls load) names module versions no single module needs. Step 4 runs make test's module checks offline.
PREP = env $(ONLINE) GOMODCACHE=$(OFFLINE) GOFLAGS='$(GOFLAGS) -modcacherw'
workshop-prep: ## fetch and build all the course needs, once, so that everything after works offline
	@echo "workshop-prep: 1/4 the Go modules of the course and of its checks, into .offline/gomod…"
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(PREP) go mod download && \
		{ GOWORK=off $(PREP) go mod tidy -diff >/dev/null || true; }) || exit 1; done
	@$(PREP) go list -m all >/dev/null
	@echo "workshop-prep: 2/4 building the grader and the slides tool…"
	@$(PREP) go build -o $(BIN)/grader ./grader && $(PREP) go build -o $(BIN)/present golang.org/x/tools/cmd/present
	@echo "workshop-prep: 3/4 compiling the chapters and solutions, with and without the race detector (a few minutes the first time)…"
	@$(PREP) go build ./chapters/... ./solutions/... && $(PREP) go build -race ./chapters/... ./solutions/... && \
		$(PREP) go test -count=1 -run '^$$' ./chapters/... >/dev/null
	@echo "workshop-prep: 4/4 checking that the course and its checks build with no network…"
	@export GOMODCACHE=$(OFFLINE) GOPROXY=off; \
		go list -deps -test ./chapters/... ./solutions/... ./harness/... ./grader/... >/dev/null && $(CHECK_MODULES) && \
		.ci/worksum
	@echo "workshop-prep: done: .offline/ holds $$(du -sh .offline | cut -f1). From now on make fetches nothing (GOPROXY=off)."
	@echo "  To hand it on: copy this whole folder, .offline/ included; on each laptop run make workshop-prep once (it only compiles)."
	@echo "  To run go yourself the same way: export GOMODCACHE=$(OFFLINE) GOPROXY=off"
	@echo "  To go back online: rm -rf .offline"

clean: ## remove build and grading leftovers (not .offline: rm -rf .offline for that)
	rm -rf $(BIN)
