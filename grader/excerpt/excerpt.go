// Package excerpt keeps the code shown in the course's Markdown chapters identical to the real files.
//
// A chapter shows code with a marker comment followed by a fenced block:
//
//	<!-- code solutions/01-blocking/listen.go /^func acceptLoop\(/,/^}/ -->
//	```go
//	func acceptLoop(...) error {
//	...
//	```
//
// The address after the path is that of the present tool's .code command, so slides and chapters name code the
// same way: /regexp/ (the first line that matches), /start/,/end/ (from the first line matching start to the next
// line matching end, both included) or N,M (line numbers). Lines ending in "OMIT" are left out, as present does.
// Check reports every block that differs from its source; Fix rewrites them.
package excerpt

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Problem is a marker whose block is missing, whose address matches nothing, or whose block differs from the
// source.
type Problem struct {
	File string // the Markdown file
	Line int    // the marker's line
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

var marker = regexp.MustCompile(`^<!-- code (\S+) (.+?) -->$`)

// Marker reports whether line is an excerpt's marker, and returns the path and address it names.
func Marker(line string) (path, addr string, ok bool) {
	m := marker.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// Extract returns the lines of the file at path (relative to root) selected by addr.
func Extract(root, path, addr string) (string, error) {
	data, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	from, to, err := resolve(lines, addr)
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", path, addr, err)
	}
	var out []string
	for _, l := range lines[from : to+1] {
		if strings.HasSuffix(l, "OMIT") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n", nil
}

// resolve turns an address into an inclusive range of line indexes.
func resolve(lines []string, addr string) (int, int, error) {
	if m := regexp.MustCompile(`^(\d+),(\d+)$`).FindStringSubmatch(addr); m != nil {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		if a < 1 || b < a || b > len(lines) {
			return 0, 0, fmt.Errorf("lines %d to %d are not in a file of %d lines", a, b, len(lines))
		}
		return a - 1, b - 1, nil
	}
	parts, err := splitRegexps(addr)
	if err != nil {
		return 0, 0, err
	}
	start, err := find(lines, parts[0], 0)
	if err != nil {
		return 0, 0, err
	}
	if len(parts) == 1 {
		return start, start, nil
	}
	end, err := find(lines, parts[1], start+1)
	if err != nil {
		return 0, 0, err
	}
	return start, end, nil
}

// splitRegexps splits "/a/" or "/a/,/b/" into its regular expressions.
func splitRegexps(addr string) ([]*regexp.Regexp, error) {
	var res []*regexp.Regexp
	rest := addr
	for len(res) < 2 {
		if !strings.HasPrefix(rest, "/") {
			return nil, fmt.Errorf("bad address %q: want /regexp/, /start/,/end/ or N,M", addr)
		}
		i := 1
		for i < len(rest) && (rest[i] != '/' || rest[i-1] == '\\') {
			i++
		}
		if i == len(rest) {
			return nil, fmt.Errorf("bad address %q: unterminated /regexp/", addr)
		}
		re, err := regexp.Compile(rest[1:i])
		if err != nil {
			return nil, fmt.Errorf("bad address %q: %v", addr, err)
		}
		res = append(res, re)
		rest = rest[i+1:]
		if rest == "" {
			return res, nil
		}
		if !strings.HasPrefix(rest, ",") {
			return nil, fmt.Errorf("bad address %q", addr)
		}
		rest = rest[1:]
	}
	return nil, fmt.Errorf("bad address %q", addr)
}

func find(lines []string, re *regexp.Regexp, from int) (int, error) {
	for i := from; i < len(lines); i++ {
		if re.MatchString(lines[i]) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no line matches /%s/", re)
}

// Check reports the excerpts of the Markdown file md (relative to root) that differ from their sources.
func Check(root, md string) ([]Problem, error) {
	_, problems, err := process(root, md)
	return problems, err
}

// Fix rewrites the excerpts of md from their sources. It returns the problems it could not fix.
func Fix(root, md string) ([]Problem, error) {
	text, problems, err := process(root, md)
	if err != nil {
		return nil, err
	}
	var left []Problem
	for _, p := range problems {
		if !strings.HasPrefix(p.Msg, "differs") {
			left = append(left, p)
		}
	}
	return left, os.WriteFile(filepath.Join(root, md), []byte(text), 0o644)
}

// process returns md with every excerpt refreshed, and the problems found on the way.
func process(root, md string) (string, []Problem, error) {
	data, err := os.ReadFile(filepath.Join(root, md))
	if err != nil {
		return "", nil, err
	}
	lines := strings.Split(string(data), "\n")
	var out []string
	var problems []Problem
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		path, addr, ok := Marker(lines[i])
		if !ok {
			continue
		}
		bad := func(msg string) { problems = append(problems, Problem{md, i + 1, msg}) }
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			bad("the marker must be followed by a fenced code block")
			continue
		}
		end := i + 2
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		if end == len(lines) {
			bad("the code block is not closed")
			continue
		}
		want, err := Extract(root, path, addr)
		if err != nil {
			bad(err.Error())
			out = append(out, lines[i+1:end+1]...)
			i = end
			continue
		}
		got := strings.Join(lines[i+2:end], "\n") + "\n"
		if got != want {
			bad(fmt.Sprintf("differs from %s %s (run `make docs` to refresh it)", path, addr))
		}
		out = append(out, lines[i+1])
		out = append(out, strings.Split(strings.TrimSuffix(want, "\n"), "\n")...)
		out = append(out, lines[end])
		i = end
	}
	return strings.Join(out, "\n"), problems, nil
}

// CheckSlide checks that every .code and .play command of a present slide deck names a file and an address
// that select some code. Paths are relative to the deck, as present reads them.
func CheckSlide(path string) []Problem {
	data, err := os.ReadFile(path)
	if err != nil {
		return []Problem{{path, 0, err.Error()}}
	}
	var problems []Problem
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != ".code" && f[0] != ".play" {
			continue
		}
		args := f[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "-") {
			args = args[1:]
		}
		if len(args) == 0 {
			problems = append(problems, Problem{path, i + 1, "no file named"})
			continue
		}
		addr := ""
		if len(args) > 1 && !strings.HasPrefix(args[1], "HL") {
			addr = args[1]
		}
		if addr == "" {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), args[0])); err != nil {
				problems = append(problems, Problem{path, i + 1, err.Error()})
			}
			continue
		}
		if _, err := Extract(filepath.Dir(path), args[0], addr); err != nil {
			problems = append(problems, Problem{path, i + 1, err.Error()})
		}
	}
	return problems
}
