package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"course/grader/excerpt"
)

// A chapter's README keeps its reference answers in one section at its end, out of the way of a reader who
// scrolls through the steps in a terminal, where <details> does not fold. Each answer is a <details> block
// after one anchor per step it answers:
//
//	## Answers
//
//	<a id="answer-8"></a>
//	<a id="answer-9"></a>
//	<details>
//	<summary>The reference answer to steps 8 and 9</summary>
//	...
//	</details>
//
// and each step ends with a link to its anchor, [Answers](#answer-8).

var (
	anchorRe = regexp.MustCompile(`^<a id="answer-(\d+)"></a>$`)
	linkRe   = regexp.MustCompile(`\]\(#answer-(\d+)\)`)
	summary  = regexp.MustCompile(`^<summary>(.*)</summary>$`)
)

// answer writes to w the reference answer to step of the README md (relative to root), as plain text: the
// <details> block after the step's anchor, each code excerpt taken from the file its marker names.
func answer(w io.Writer, root, md string, step int) error {
	data, err := os.ReadFile(filepath.Join(root, md))
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	start := -1
	var steps []string
	for i, l := range lines {
		if m := anchorRe.FindStringSubmatch(l); m != nil {
			steps = append(steps, m[1])
			if m[1] == strconv.Itoa(step) {
				start = i
			}
		}
	}
	switch {
	case start < 0 && steps == nil:
		return fmt.Errorf("%s keeps no answers by step (no <a id=\"answer-N\"></a> anchors): look for them in the file itself", md)
	case start < 0:
		return fmt.Errorf("%s has no answer to step %d; it has answers to steps %s", md, step, strings.Join(steps, ", "))
	}
	i := start
	for i < len(lines) && anchorRe.MatchString(lines[i]) {
		i++
	}
	if i == len(lines) || lines[i] != "<details>" {
		return fmt.Errorf("%s:%d: the anchor of step %d is not followed by <details>", md, start+1, step)
	}
	for i++; i < len(lines) && lines[i] != "</details>"; i++ {
		l := lines[i]
		if m := summary.FindStringSubmatch(l); m != nil {
			fmt.Fprintln(w, m[1]+":")
			continue
		}
		if path, addr, ok := excerpt.Marker(l); ok {
			code, err := excerpt.Extract(root, path, addr)
			if err != nil {
				return fmt.Errorf("%s:%d: %v", md, i+1, err)
			}
			fmt.Fprintf(w, "%s:\n\n%s", path, code)
			// Skip the block the marker fills, a copy of that code: its opening fence, then up to its closing one.
			for i += 2; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			}
			continue
		}
		fmt.Fprintln(w, l)
	}
	if i == len(lines) {
		return fmt.Errorf("%s:%d: the <details> of step %d is not closed", md, start+1, step)
	}
	return nil
}

// checkAnswers reports what would break the layout above in md: a link to an answer that has no anchor, an
// anchor not followed by a <details> block, and a <details> block before the Answers section, where a
// reader in a terminal would see it unfolded. A README without an Answers section is not checked.
func checkAnswers(root, md string) ([]excerpt.Problem, error) {
	data, err := os.ReadFile(filepath.Join(root, md))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	section := -1
	anchors := map[string]bool{}
	for i, l := range lines {
		if l == "## Answers" {
			section = i
		}
		if m := anchorRe.FindStringSubmatch(l); m != nil {
			anchors[m[1]] = true
		}
	}
	if section < 0 {
		return nil, nil
	}
	var problems []excerpt.Problem
	bad := func(i int, format string, args ...any) {
		problems = append(problems, excerpt.Problem{File: md, Line: i + 1, Msg: fmt.Sprintf(format, args...)})
	}
	for i, l := range lines {
		for _, m := range linkRe.FindAllStringSubmatch(l, -1) {
			if !anchors[m[1]] {
				bad(i, "a link to #answer-%s, which no <a id=\"answer-%s\"></a> anchors", m[1], m[1])
			}
		}
		if l == "<details>" && i < section {
			bad(i, "a <details> block before the Answers section: a reader in a terminal sees it unfolded; move it under Answers")
		}
		if anchorRe.MatchString(l) {
			j := i + 1
			for j < len(lines) && anchorRe.MatchString(lines[j]) {
				j++
			}
			if j == len(lines) || lines[j] != "<details>" {
				bad(i, "an answer's anchor must be followed by its <details> block")
			}
		}
	}
	return problems, nil
}
