# How Web Servers Work: the course's commands. Run `make help` for the list.

CHAPTER ?= 1
# The two-digit folder of a chapter: chapters/01-blocking, solutions/01-blocking, ...
SLUG = $(notdir $(firstword $(wildcard chapters/$(shell printf '%02d' $(CHAPTER))-*)))
# Built rather than go run, which would add its own "exit status 1" to a failing grade and report the
# grader's exit status 2 (a usage or build error) as 1.
GRADER = go build -o .grader/grader ./grader && .grader/grader
GRADE_FLAGS ?=

.PHONY: help grade solution hint watch grader test test-unit test-selfcheck vet modules docs slides bench mutants clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

grade: ## grade your server for CHAPTER=N (chapters/NN-slug)
	@$(GRADER) -chapter $(CHAPTER) $(GRADE_FLAGS)

solution: ## grade the reference solution of CHAPTER=N
	@$(GRADER) -chapter $(CHAPTER) -dir solutions/$(SLUG) $(GRADE_FLAGS)

hint: ## the hint for the first spec that the last grade of CHAPTER=N did not pass
	@$(GRADER) -chapter $(CHAPTER) -hint

watch: ## re-grade CHAPTER=N each time you save a file of it
	@$(GRADER) -chapter $(CHAPTER) -watch $(GRADE_FLAGS)

grader: ## build the grader as .grader/grader, to run it yourself (-cmd, -dir, -o: see grader/README.md)
	go build -o .grader/grader ./grader

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

test-unit:
	go test -race -count=1 -timeout 8m ./chapters/... ./solutions/... ./harness/... ./grader/...

# make mutants grades every chapter unless CHAPTER is given on the command line or in the environment.
MUTANT ?=
MUTANTS_FLAGS ?=
mutants: ## plant known bugs in the solutions and grade each: the mutation score (CHAPTER=N, MUTANT=name, MUTANTS_FLAGS=-fast)
	@go build -o .grader/mutants ./grader/cmd/mutants && .grader/mutants \
		$(if $(filter command line environment,$(origin CHAPTER)),-chapter $(CHAPTER)) \
		$(if $(MUTANT),-mutant $(MUTANT)) $(MUTANTS_FLAGS)

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
