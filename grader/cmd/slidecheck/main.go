// Command slidecheck loads every deck of the course in a headless Chromium and reports the slides that do not
// fit their page or show a backtick as text (see package slides). It exits 1 if it finds any, and 2 when it
// cannot check. Without a Chromium it says so and exits 0, unless CI=true: CI must check the slides.
//
//	go run ./grader/cmd/slidecheck [-present PATH] [-report-only DECK,...] [DECK...]
//
// -report-only names decks (as slides/NAME.slide) whose problems are printed but do not fail the check: a deck
// being rewritten, while it is.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"course/grader/browser"
	"course/grader/slides"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	present := flag.String("present", "", "the present command to serve the decks with (default: build it)")
	timeout := flag.Duration("timeout", 3*time.Minute, "bound the whole check to `D`")
	reportOnly := flag.String("report-only", "", "print the problems of these decks (`LIST`, comma-separated) without failing")
	flag.Parse()
	os.Exit(run(*root, *present, *timeout, strings.Split(*reportOnly, ","), flag.Args()))
}

func run(root, present string, timeout time.Duration, reportOnly, decks []string) int {
	chromium, err := browser.Find()
	if err != nil {
		if browser.Skippable() {
			fmt.Printf("slidecheck: skipped, the slides were not checked in a browser: %v\n", err)
			return 0
		}
		fmt.Fprintf(os.Stderr, "slidecheck: %v (CI=true: the slides must be checked; .ci/install installs Chromium)\n", err)
		return 2
	}
	if len(decks) == 0 {
		if decks, err = slides.Decks(root); err != nil {
			fmt.Fprintln(os.Stderr, "slidecheck:", err)
			return 2
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if present == "" {
		dir, err := os.MkdirTemp("", "slidecheck-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "slidecheck:", err)
			return 2
		}
		defer os.RemoveAll(dir)
		if present, err = slides.BuildPresent(ctx, filepath.Join(root, "grader"), dir); err != nil {
			fmt.Fprintln(os.Stderr, "slidecheck:", err)
			return 2
		}
	}
	start := time.Now()
	problems, err := slides.CheckAll(ctx, chromium, present, root, decks)
	if err != nil {
		fmt.Fprintln(os.Stderr, "slidecheck:", err)
		return 2
	}
	failed := 0
	for _, p := range problems {
		if slices.Contains(reportOnly, filepath.ToSlash(p.Deck)) {
			fmt.Println(p, "(reported only)")
			continue
		}
		fmt.Println(p)
		failed++
	}
	fmt.Printf("slidecheck: %d decks, %d problems (%d reported only), in %.1f s (%s, window %dx%d)\n", len(decks),
		len(problems), len(problems)-failed, time.Since(start).Seconds(), filepath.Base(chromium), slides.Width, slides.Height)
	if failed > 0 {
		return 1
	}
	return 0
}
