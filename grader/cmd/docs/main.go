// Command docs refreshes the code excerpts of the course's chapters from the real files (see package excerpt),
// and prints a chapter's reference answer to one step (see answer.go).
//
//	go run ./grader/cmd/docs        # rewrite every chapter README's excerpts
//	go run ./grader/cmd/docs -check # only report the stale ones, and broken answer links; exit 1 if any
//	go run ./grader/cmd/docs -answer 3 chapters/01-blocking/README.md   # the answer to step 3, as text
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"course/grader/excerpt"
)

func main() {
	check := flag.Bool("check", false, "report stale excerpts instead of rewriting them")
	root := flag.String("root", ".", "the repository root")
	step := flag.Int("answer", 0, "print the reference answer to this step of the README given as argument")
	flag.Parse()
	if *step != 0 {
		if flag.NArg() != 1 {
			fmt.Fprintln(os.Stderr, "usage: docs -answer STEP chapters/NN-slug/README.md")
			os.Exit(2)
		}
		if err := answer(os.Stdout, *root, flag.Arg(0), *step); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	docs, _ := filepath.Glob(filepath.Join(*root, "chapters", "*", "README.md"))
	docs = append(docs, filepath.Join(*root, "README.md"))
	failed := false
	for _, md := range docs {
		rel, _ := filepath.Rel(*root, md)
		var problems []excerpt.Problem
		var err error
		if *check {
			problems, err = excerpt.Check(*root, rel)
		} else {
			problems, err = excerpt.Fix(*root, rel)
		}
		if err == nil {
			var more []excerpt.Problem
			more, err = checkAnswers(*root, rel)
			problems = append(problems, more...)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for _, p := range problems {
			fmt.Fprintln(os.Stderr, p)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
