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

// reportPath is where the grader keeps the last report of a learner's chapter, for -hint.
func reportPath(root string, chapter int) string {
	return filepath.Join(root, ".grader", fmt.Sprintf("chapter-%d.json", chapter))
}

// saveReport keeps rep as the last report of the learner's chapter. Failing to keep it only costs the hint.
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

// showHint prints the hint of the first spec the learner's last grade did not pass, or of the first spec
// when the chapter was never graded.
func showHint(w io.Writer, root string, ch *specs.Chapter) int {
	var rep spec.Report
	data, err := os.ReadFile(reportPath(root, ch.Number))
	graded := err == nil && json.Unmarshal(data, &rep) == nil
	var first *spec.Spec
	switch {
	case !graded:
		fmt.Fprintf(w, "You have not graded chapter %d yet (make grade CHAPTER=%d). The first spec:\n\n", ch.Number, ch.Number)
		first = &ch.Specs[0]
	case rep.Output != "":
		fmt.Fprintf(w, "Your last grade of chapter %d did not build: fix the compiler errors (make grade CHAPTER=%d shows them).\n", ch.Number, ch.Number)
		return exitFail
	default:
		failed := rep.FirstFailure()
		if failed == nil {
			fmt.Fprintf(w, "Every spec of chapter %d passed at your last grade (%d/%d).", ch.Number, rep.Score, rep.Total)
			if rep.NextChapter > 0 {
				fmt.Fprintf(w, " On to chapter %d: make grade CHAPTER=%d.", rep.NextChapter, rep.NextChapter)
			}
			fmt.Fprintln(w)
			return exitPass
		}
		if !failed.Ran && rep.Start != "" {
			fmt.Fprintf(w, "At your last grade of chapter %d (%d/%d) your server did not start, so the specs that need it did not run.\n", ch.Number, rep.Score, rep.Total)
			if words := failed.LastWords(); words != "" {
				fmt.Fprintf(w, "It exited as it started, saying: %s\n", words)
			}
			fmt.Fprintf(w, "Start it by hand and read what it prints; it must keep running and listen on the address it is given:\n  %s\n",
				spec.Expand(rep.Start, "127.0.0.1:8080"))
			if failed.Message != "" {
				fmt.Fprintf(w, "What the grader saw: %s\n", strings.TrimRight(failed.Message, "\n"))
			}
			return exitPass
		}
		for i := range ch.Specs {
			if ch.Specs[i].ID == failed.ID {
				first = &ch.Specs[i]
			}
		}
		if first == nil {
			fmt.Fprintf(w, "Spec %s of your last grade no longer exists: grade again (make grade CHAPTER=%d).\n", failed.ID, ch.Number)
			return exitFail
		}
		fmt.Fprintf(w, "The first spec you have not passed (at your last grade, %d/%d):\n\n", rep.Score, rep.Total)
		if words := failed.LastWords(); words != "" {
			fmt.Fprintf(w, "  %s  %s\n\nYour server stopped during it, saying: %s\n", first.ID, first.Title, words)
			if first.Why != "" {
				fmt.Fprintf(w, "Read: %s\n", first.Why)
			}
			return exitPass
		}
	}
	fmt.Fprintf(w, "  %s  %s\n\n", first.ID, first.Title)
	fmt.Fprintf(w, "Hint: %s\n", first.Hint)
	if first.Why != "" {
		fmt.Fprintf(w, "Read: %s\n", first.Why)
	}
	if first.Repro != "" {
		fmt.Fprintf(w, "Try it by hand, with your server started on 127.0.0.1:8080:\n  %s\n", spec.Expand(first.Repro, "127.0.0.1:8080"))
	}
	return exitPass
}
