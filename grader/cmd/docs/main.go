// Command docs refreshes the code excerpts of the course's chapters from the real files (see package excerpt).
//
//	go run ./grader/cmd/docs        # rewrite every chapter README's excerpts
//	go run ./grader/cmd/docs -check # only report the stale ones; exit 1 if any
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
	flag.Parse()
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
