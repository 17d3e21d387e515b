package mutants

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"course/grader/specs"
)

// Report is the outcome of grading a set of mutants.
type Report struct {
	Fast      bool       `json:"fast"` // graded on the specs each row expects, not all the chapter's
	Baselines []Baseline `json:"baselines,omitempty"`
	Results   []Result   `json:"results"`
	Chapters  []Score    `json:"chapters"`

	Duration time.Duration `json:"duration_ns"`
}

// Score is the mutation score of one chapter: the share of its mutants that some spec kills, among those
// that can be killed (equivalent and broken ones aside). An unconfirmed kill does not count.
type Score struct {
	Chapter     int     `json:"chapter"`
	Mutants     int     `json:"mutants"`
	Killed      int     `json:"killed"`
	Survived    int     `json:"survived"`
	Unconfirmed int     `json:"unconfirmed,omitempty"`
	Equivalent  int     `json:"equivalent"`
	Broken      int     `json:"broken"`
	NotGraded   int     `json:"not_graded,omitempty"`
	Percent     float64 `json:"score"` // of Killed among Killed, Survived and Unconfirmed
}

// score counts the results chapter by chapter.
func (r *Report) score() {
	r.Chapters = nil
	for _, res := range r.Results {
		if len(r.Chapters) == 0 || r.Chapters[len(r.Chapters)-1].Chapter != res.Chapter {
			r.Chapters = append(r.Chapters, Score{Chapter: res.Chapter})
		}
		s := &r.Chapters[len(r.Chapters)-1]
		s.Mutants++
		switch res.Status {
		case Killed:
			s.Killed++
		case Survived:
			s.Survived++
		case Unconfirmed:
			s.Unconfirmed++
		case Equivalent:
			s.Equivalent++
		case Broken:
			s.Broken++
		case NotGraded:
			s.NotGraded++
		}
	}
	for i := range r.Chapters {
		s := &r.Chapters[i]
		if n := s.Killed + s.Survived + s.Unconfirmed; n > 0 {
			s.Percent = 100 * float64(s.Killed) / float64(n)
		}
	}
}

// OK reports whether every row applied and built, and every chapter's reference server passed: the scores
// then mean something.
func (r *Report) OK() bool {
	for _, b := range r.Baselines {
		if !b.Passed {
			return false
		}
	}
	for _, res := range r.Results {
		if res.Status == Broken || res.Status == NotGraded {
			return false
		}
	}
	return true
}

// WriteJSON writes r as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Line formats one result as a line: the status, the mutant, and what killed it or what went wrong.
func Line(r *Result) string {
	var what string
	switch r.Status {
	case Killed:
		what = "by " + strings.Join(r.By, " ")
		if r.Reruns > 0 {
			what += ", confirmed"
		}
		if r.Unexpected() {
			what += " (expected " + strings.Join(r.Expect, " ") + ")"
		}
		if r.Equivalent != "" {
			what += " (its row says it is equivalent: the row or a spec is wrong)"
		}
	case Survived:
		what = "expected " + strings.Join(r.Expect, " ")
	case Equivalent:
		what = "no spec can tell"
	default:
		what = r.Message
	}
	return fmt.Sprintf("%-11s %d %-34s %-28s %s  %v", strings.ToUpper(r.Status), r.Chapter, r.Name, r.File, what,
		r.Duration.Round(100*time.Millisecond))
}

// Print writes the summary of r: the scores per chapter, then the mutants that got through, each with what a
// spec would have to do to catch it.
func (r *Report) Print(w io.Writer) {
	for _, b := range r.Baselines {
		if !b.Passed {
			fmt.Fprintf(w, "\nThe reference server of chapter %d failed the specs its mutants are graded on (%s): %s\n",
				b.Chapter, strings.Join(b.Failed, " "), b.Message)
		}
	}
	mode := "every spec of the chapter"
	if r.Fast {
		mode = "the specs each row expects (-fast)"
	}
	fmt.Fprintf(w, "\nMutation score, graded on %s, in %v:\n", mode, r.Duration.Round(time.Second))
	fmt.Fprintf(w, "  %-16s %7s %7s %9s %12s %11s %7s  %s\n", "chapter", "mutants", "killed", "survived", "unconfirmed", "equivalent", "broken", "score")
	for _, s := range r.Chapters {
		title := fmt.Sprint(s.Chapter)
		if ch, err := specs.ForChapter(s.Chapter); err == nil {
			title += " " + ch.Title
		}
		score := "-"
		if n := s.Killed + s.Survived + s.Unconfirmed; n > 0 {
			score = fmt.Sprintf("%.0f%% (%d of %d)", s.Percent, s.Killed, n)
		}
		fmt.Fprintf(w, "  %-16s %7d %7d %9d %12d %11d %7d  %s\n", title, s.Mutants, s.Killed, s.Survived, s.Unconfirmed, s.Equivalent, s.Broken, score)
	}
	var survivors []*Result
	for i := range r.Results {
		if res := &r.Results[i]; res.Status == Survived || res.Status == Unconfirmed {
			survivors = append(survivors, res)
		}
	}
	if len(survivors) == 0 {
		return
	}
	fmt.Fprintf(w, "\nSurvivors (%d): a spec would have to show what each does.\n", len(survivors))
	for _, res := range survivors {
		fmt.Fprintf(w, "  %d %s (%s)", res.Chapter, res.Name, res.File)
		if res.Status == Unconfirmed {
			fmt.Fprintf(w, " [%s]", res.Message)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "      bug:   %s\n      shows: %s\n", res.Bug, res.Shows)
		fmt.Fprintf(w, "      expected to be killed by: %s\n", strings.Join(res.Expect, " "))
	}
}
