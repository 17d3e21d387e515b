package spec

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Printer writes reports as text for a person: a header, one line per spec (as it runs, when Result is
// called from Config.Progress), details under each failure, and the score.
type Printer struct {
	W       io.Writer
	Color   bool // ANSI colours, for a terminal
	Verbose bool // show the transcripts and logs of passing specs too

	lastSkip string // the message of the last spec not run, not repeated under the next
}

// UseColor reports whether output to f should be coloured: f is a terminal, and neither NO_COLOR is set nor
// TERM is "dumb".
func UseColor(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Limits of what a report shows of a byte stream, so that a 1 MiB body does not flood the screen.
const (
	showBytes = 1500 // bytes of a sent or received stream
	showLines = 25   // lines of a stream, a transcript or a diff
	showWidth = 200  // characters of one of those lines
)

const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	bold   = "\x1b[1m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

// indent is where the details of a spec start.
const indent = "       "

// paint wraps s in an ANSI colour when colours are on.
func (p *Printer) paint(color, s string) string {
	if !p.Color {
		return s
	}
	return color + s + reset
}

// Header writes the first line of a run: the chapter, what is graded, and the seed.
func (p *Printer) Header(r *Report) {
	p.lastSkip = ""
	run := ""
	if r.Runs > 1 {
		run = fmt.Sprintf(", run %d of %d", r.Run, r.Runs)
	}
	target := ""
	if r.Target != "" {
		target = " (" + r.Target + ")"
	}
	fmt.Fprintf(p.W, "%s%s, seed %d%s\n",
		p.paint(bold, fmt.Sprintf("Grading chapter %d: %s", r.Chapter, r.Title)), target, r.Seed, run)
	for _, n := range r.Notes {
		p.note(n)
	}
}

// note writes a NOTE line, wrapped.
func (p *Printer) note(text string) {
	for i, line := range wrap(text, 94) {
		if i == 0 {
			fmt.Fprintf(p.W, "%s %s\n", p.paint(yellow, "NOTE"), line)
		} else {
			fmt.Fprintf(p.W, "     %s\n", line)
		}
	}
}

// Result writes the line of one spec and, under a failure, what went wrong and how to look into it.
func (p *Printer) Result(res *Result) {
	status := p.paint(green, "PASS")
	switch {
	case !res.Ran:
		status = p.paint(yellow, "SKIP")
	case !res.Passed:
		status = p.paint(red, "FAIL")
	}
	dur := ""
	if res.Ran {
		dur = round(res.Duration).String()
	}
	fmt.Fprintf(p.W, "%s %-5s %-50s %d/%d %s\n", status, res.ID, res.Title, res.Earned, res.Points, p.paint(dim, dur))
	for _, n := range res.Notes {
		p.field("note", n)
	}
	if !res.Ran {
		if res.Message != p.lastSkip {
			p.lines(res.Message)
		}
		p.lastSkip = res.Message
		return
	}
	if res.Passed {
		if p.Verbose {
			p.logs(res)
			p.transcripts(res)
		}
		return
	}
	p.lines(res.Message)
	d := res.Details
	if d.Diff != "" {
		p.block("diff (-want +got)", d.Diff, false)
	}
	if d.Sent != "" {
		p.block("sent", d.Sent, true)
	}
	if d.Got != "" {
		p.block("got", d.Got, true)
	}
	if d.Expected != "" {
		p.field("expected", d.Expected)
	}
	p.logs(res)
	if p.Verbose || d.Sent == "" && d.Got == "" {
		p.transcripts(res)
	}
	if res.Server != "" {
		p.block("server", res.Server, false)
	}
	if res.Why != "" {
		p.field("why", "read "+res.Why)
	}
	if res.Hint != "" {
		p.field("hint", res.Hint)
	}
	if res.Repro != "" {
		// Not wrapped: it must stay one line a person can paste.
		fmt.Fprintf(p.W, "%s%s %s\n", indent, p.paint(dim, "try:"), res.Repro)
	}
}

// Footer writes what failed outside the specs, the score line "Chapter N: X/Y", and the next step.
func (p *Printer) Footer(r *Report) {
	for _, pr := range r.Problems {
		lines := strings.Split(pr, "\n")
		fmt.Fprintf(p.W, "%s %s\n", p.paint(red, "FAIL"), lines[0])
		for _, l := range clip(lines[1:], showLines) {
			fmt.Fprintf(p.W, "%s%s\n", indent, l)
		}
	}
	if r.Output != "" {
		for _, l := range clip(strings.Split(strings.TrimRight(r.Output, "\n"), "\n"), 40) {
			fmt.Fprintf(p.W, "%s%s\n", indent, l)
		}
	}
	score := fmt.Sprintf("Chapter %d: %d/%d", r.Chapter, r.Score, r.Total)
	if r.Passed() {
		score = p.paint(green+bold, score)
	} else {
		score = p.paint(red+bold, score)
	}
	fmt.Fprintln(p.W, score)
	for _, u := range r.Unread {
		p.note(fmt.Sprintf("not graded: %s (it reads the Go code, and the grader runs a command)", u))
	}
	if r.Notice != "" {
		p.note(r.Notice)
	}
	fmt.Fprintln(p.W, p.nextStep(r))
}

// Print writes a whole report: header, every result, footer.
func (p *Printer) Print(r *Report) {
	p.Header(r)
	for i := range r.Results {
		p.Result(&r.Results[i])
	}
	p.Footer(r)
}

// nextStep says what to do now.
func (p *Printer) nextStep(r *Report) string {
	help := fmt.Sprintf("make hint CHAPTER=%d", r.Chapter)
	again := "grade again"
	if r.Again != "" {
		again = "run " + r.Again + " again"
	}
	first := r.FirstFailure()
	switch {
	case r.Output != "":
		return fmt.Sprintf("Next step: fix the build errors above, then %s.", again)
	case r.Stopped != "":
		return fmt.Sprintf("The run was stopped before the end (%s): the specs not run count as failed. To finish it, %s.", r.Stopped, again)
	case first != nil && !first.Ran && r.Start != "":
		start := r.StartLine(ByHandAddr, first.Flags)
		if words := first.LastWords(); words != "" {
			return fmt.Sprintf("Next step: your server exited as it started, saying: %s\n"+
				"To see all it prints, start it by hand: %s\nMore help: %s", words, start, help)
		}
		return fmt.Sprintf("Next step: start the server by hand (%s) and read what it prints; "+
			"it must keep running and listen on the address it is given. More help: %s", start, help)
	case first != nil:
		s := fmt.Sprintf("Next step: %s %s", first.ID, first.Title)
		if words := first.LastWords(); words != "" {
			s = fmt.Sprintf("Next step: your server stopped during %s, saying: %s", first.ID, words)
		} else if first.Hint != "" {
			s += ": " + first.Hint
		}
		if first.Ran && r.Start != "" && first.Addr != "" {
			s += fmt.Sprintf("\nTo try its repro line, start your server with: %s", r.StartLine(first.Addr, first.Flags))
		}
		return s + "\nMore help: " + help
	case len(r.Problems) > 0:
		return "Next step: every spec passes, but see the failures above."
	case r.NextChapter > 0:
		return fmt.Sprintf("Every spec passes. Next step: chapter %d (make grade CHAPTER=%d).", r.NextChapter, r.NextChapter)
	}
	return "Every spec passes: well done."
}

// ByHandAddr is the address a person starts a server on by hand when no run's address applies.
const ByHandAddr = "127.0.0.1:8080"

// field writes "label: text" under a spec, wrapping long text.
func (p *Printer) field(label, text string) {
	head := indent + p.paint(dim, label+":") + " "
	cont := indent + strings.Repeat(" ", len(label)+2)
	for i, line := range wrap(text, 100-len(cont)) {
		if i == 0 {
			fmt.Fprintf(p.W, "%s%s\n", head, line)
		} else {
			fmt.Fprintf(p.W, "%s%s\n", cont, line)
		}
	}
}

// block writes "label:" and, indented under it, text; raw text (bytes sent or received) is escaped so that
// line endings and control bytes show.
func (p *Printer) block(label, text string, raw bool) {
	fmt.Fprintf(p.W, "%s%s\n", indent, p.paint(dim, label+":"))
	var lines []string
	if raw {
		lines = Escape(text, showBytes)
	} else {
		lines = strings.Split(strings.TrimRight(text, "\n"), "\n")
	}
	for _, l := range clip(lines, showLines) {
		fmt.Fprintf(p.W, "%s  %s\n", indent, clipLine(l, showWidth))
	}
}

// clipLine shortens a line to about width characters, saying how many it left out.
func clipLine(s string, width int) string {
	if len(s) <= width {
		return s
	}
	cut := width
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d more characters)", len(s)-cut)
}

// lines writes text indented under a spec.
func (p *Printer) lines(text string) {
	for _, line := range strings.Split(text, "\n") {
		fmt.Fprintf(p.W, "%s%s\n", indent, line)
	}
}

func (p *Printer) logs(res *Result) {
	for _, l := range res.Logs {
		p.field("log", l)
	}
}

func (p *Printer) transcripts(res *Result) {
	for i, tr := range res.Transcripts {
		if strings.TrimSpace(tr) == "" {
			continue
		}
		p.block(fmt.Sprintf("connection %d", i+1), tr, false)
	}
}

// Escape shows bytes as lines of text: CR and LF as \r and \n (a line ends after each \n), other control
// bytes and invalid UTF-8 as \xNN. After limit bytes it stops and says how many were left out.
func Escape(s string, limit int) []string {
	var lines []string
	var b strings.Builder
	shown := s
	if len(s) > limit {
		shown = s[:limit]
	}
	for i := 0; i < len(shown); {
		r, size := utf8.DecodeRuneInString(shown[i:])
		switch {
		case r == '\n':
			b.WriteString(`\n`)
			lines = append(lines, b.String())
			b.Reset()
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == utf8.RuneError && size == 1, !unicode.IsPrint(r):
			for j := range size {
				fmt.Fprintf(&b, `\x%02x`, shown[i+j])
			}
		default:
			b.WriteString(shown[i : i+size])
		}
		i += size
	}
	if b.Len() > 0 {
		lines = append(lines, b.String())
	}
	if len(s) > limit {
		lines = append(lines, fmt.Sprintf("... (%d more bytes)", len(s)-limit))
	}
	return lines
}

// clip keeps the first n lines, and says how many it left out.
func clip(lines []string, n int) []string {
	if len(lines) <= n {
		return lines
	}
	out := append([]string(nil), lines[:n]...)
	return append(out, fmt.Sprintf("... (%d more lines)", len(lines)-n))
}

// wrap breaks text into lines of at most width characters, at spaces; existing line breaks are kept.
func wrap(text string, width int) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		line := ""
		for _, w := range strings.Fields(para) {
			switch {
			case line == "":
				line = w
			case len(line)+1+len(w) > width:
				out = append(out, line)
				line = w
			default:
				line += " " + w
			}
		}
		out = append(out, line)
	}
	return out
}

// round rounds d for display: milliseconds, or microseconds under one.
func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
