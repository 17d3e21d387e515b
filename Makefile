# How Web Servers Work: the course's commands. Run `make help` for the list.

CHAPTER ?= 1
# The two-digit folder of a chapter: chapters/01-blocking, solutions/01-blocking, ...
SLUG = $(notdir $(firstword $(wildcard chapters/$(shell printf '%02d' $(CHAPTER))-*)))
# Built rather than go run, which would add its own "exit status 1" to a failing grade.
GRADER = go build -o .grader/grader ./grader && .grader/grader
GRADE_FLAGS ?=

.PHONY: help check grade solution hint watch test test-unit test-selfcheck vet modules docs slides bench clean

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

grade: ## grade your server for CHAPTER=N (chapters/NN-slug)
	@$(GRADER) -chapter $(CHAPTER) $(GRADE_FLAGS)

solution: ## grade the reference solution of CHAPTER=N
	@$(GRADER) -chapter $(CHAPTER) -dir solutions/$(SLUG) $(GRADE_FLAGS)

hint: ## show the hint for the first spec you have not passed in CHAPTER=N
	@$(GRADER) -chapter $(CHAPTER) -hint

watch: ## re-grade CHAPTER=N each time you save a file of it
	@$(GRADER) -chapter $(CHAPTER) -watch $(GRADE_FLAGS)

test: vet modules test-unit docs-check ## the repository's own checks (what CI runs)
	@echo "make test: all checks passed"

vet:
	@test -z "$$(gofmt -l chapters solutions harness grader)" || { gofmt -l chapters solutions harness grader; echo "gofmt: the files above need formatting"; exit 1; }
	go vet ./chapters/... ./solutions/... ./harness/... ./grader/...

# Every module stands on its own: it builds outside the workspace, and its go.mod is tidy.
MODULES = chapters harness grader solutions
modules:
	@for m in $(MODULES); do \
		(cd $$m && GOWORK=off go build ./... && GOWORK=off go mod tidy -diff >/dev/null) || { echo "module $$m: does not build with GOWORK=off, or go.mod is not tidy (cd $$m && GOWORK=off go mod tidy)"; exit 1; }; \
	done

# The starters (chapters/NN-slug) are left out: their step tests fail until the learner's work is done. The
# self-check (grader/selfcheck_test.go) shows that they fail on each starter and pass on its solution.
test-unit:
	go test -race -count=1 -timeout 8m $$(go list ./chapters/... | grep -v '/chapters/[0-9][0-9]-') ./solutions/... ./harness/... ./grader/...

docs: ## refresh the code excerpts in the chapters from the real files
	go run ./grader/cmd/docs

docs-check:
	go run ./grader/cmd/docs -check

slides: ## serve the slides at http://127.0.0.1:3999/slides/
	@echo "Open http://127.0.0.1:3999/slides/ (Ctrl-C to stop)"
	go run golang.org/x/tools/cmd/present -http 127.0.0.1:3999 -content . -notes

bench: ## measure: our load generator against wrk, and the servers beside net/http
	@bash bench/loadgen.sh; status=$$?; bash bench/servers.sh && exit $$status

clean: ## remove build and grading leftovers
	rm -rf .grader
