package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"course/grader/spec"
	"course/grader/specs"
)

// reportPath is where the grader keeps the last report of a chapter, whatever was graded, for -hint.
func reportPath(root string, chapter int) string {
	return filepath.Join(root, ".grader", fmt.Sprintf("chapter-%d.json", chapter))
}

// saveReport keeps rep as the last report of its chapter. Failing to keep it only costs the hint.
func saveReport(root string, rep *spec.Report) {
	path := reportPath(root, rep.Chapter)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	rep.WriteJSON(f)
}

// showHint prints the hint of the first spec the chapter's last grade did not pass, whatever was graded (the
// learner's chapter, a -dir or a -cmd), or of the first spec when the chapter was never graded. It speaks of
// that run: the sub-case that failed, and the address its server had.
func showHint(w io.Writer, root string, ch *specs.Chapter) int {
	var rep spec.Report
	data, err := os.ReadFile(reportPath(root, ch.Number))
	if err != nil || json.Unmarshal(data, &rep) != nil {
		first := &ch.Specs[0]
		fmt.Fprintf(w, "You have not graded chapter %d yet (make grade CHAPTER=%d). The first spec:\n\n", ch.Number, ch.Number)
		fmt.Fprintf(w, "  %s  %s\n\nHint: %s\n", first.ID, first.Title, first.Hint)
		if first.Why != "" {
			fmt.Fprintf(w, "Read: %s\n", first.Why)
		}
		if first.Repro != "" {
			fmt.Fprintf(w, "Try it by hand, with your server started on %s:\n  %s\n", spec.ByHandAddr, spec.Expand(first.Repro, spec.ByHandAddr))
		}
		return exitPass
	}
	last := fmt.Sprintf("your last grade of chapter %d (%d/%d)", ch.Number, rep.Score, rep.Total)
	if rep.Target != "" {
		last = fmt.Sprintf("your last grade of chapter %d (%s, %d/%d)", ch.Number, rep.Target, rep.Score, rep.Total)
	}
	if rep.Output != "" {
		fmt.Fprintf(w, "At %s the server did not build: fix the compiler errors (grade again to see them).\n", last)
		return exitFail
	}
	failed := rep.FirstFailure()
	if failed == nil && len(rep.Problems) == 0 {
		fmt.Fprintf(w, "Every spec passed at %s.", last)
		if rep.NextChapter > 0 {
			fmt.Fprintf(w, " On to chapter %d: make grade CHAPTER=%d.", rep.NextChapter, rep.NextChapter)
		}
		fmt.Fprintln(w)
		return exitPass
	}
	if failed == nil {
		fmt.Fprintf(w, "Every spec passed at %s, but the run failed:\n", last)
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(p, "\n", "\n  "))
		}
		return exitPass
	}
	if !failed.Ran {
		why := strings.TrimPrefix(failed.Message, "not run: ")
		if !strings.HasPrefix(why, "the server did not start") {
			fmt.Fprintf(w, "At %s, spec %s did not run: %s\nGrade again.\n", last, failed.ID, why)
			return exitPass
		}
		fmt.Fprintf(w, "At %s your server did not start, so the specs that need it did not run.\n", last)
		if words := failed.LastWords(); words != "" {
			fmt.Fprintf(w, "It exited as it started, saying: %s\n", words)
		}
		if start := rep.StartLine(spec.ByHandAddr, failed.Flags); start != "" {
			fmt.Fprintf(w, "Start it by hand and read what it prints; it must keep running and listen on the address it is given:\n  %s\n", start)
		}
		fmt.Fprintf(w, "What the grader saw: %s\n", strings.TrimRight(why, "\n"))
		return exitPass
	}
	fmt.Fprintf(w, "The first spec you have not passed, at %s:\n\n  %s  %s\n", last, failed.ID, failed.Title)
	if failed.Case != "" {
		fmt.Fprintf(w, "  in the case %q\n", failed.Case)
	}
	if words := failed.LastWords(); words != "" {
		fmt.Fprintf(w, "\nYour server stopped during it, saying: %s\n", words)
	} else if failed.Hint != "" {
		fmt.Fprintf(w, "\nHint: %s\n", failed.Hint)
	}
	if failed.Why != "" {
		fmt.Fprintf(w, "Read: %s\n", failed.Why)
	}
	if failed.Repro != "" {
		switch start := rep.StartLine(failed.Addr, failed.Flags); {
		case failed.Addr == "": // a spec that reads the code, and needs no server
			fmt.Fprintf(w, "Try it by hand:\n  %s\n", failed.Repro)
		case start != "":
			fmt.Fprintf(w, "Try it by hand: start your server as the grader did,\n  %s\nthen:\n  %s\n", start, failed.Repro)
		default:
			fmt.Fprintf(w, "Try it by hand, with your server started on %s as the grader did:\n  %s\n", failed.Addr, failed.Repro)
		}
	}
	return exitPass
}
