package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"course/grader/specs"
)

// The contract in grader/README.md names every flag the grader passes and every route of the test app: a
// server in another language has nothing else to go by.
func TestContractIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	require.NoError(t, err)
	t.Run("flags", func(t *testing.T) {
		for _, n := range specs.Numbers() {
			ch, err := specs.ForChapter(n)
			require.NoError(t, err)
			for _, f := range chapterFlags(ch) {
				require.Contains(t, string(doc), fmt.Sprintf("\n| `%s` |", f), "chapter %d passes %s: grader/README.md's table of flags must say what it means", n, f)
			}
		}
	})
	t.Run("routes", func(t *testing.T) {
		app, err := os.ReadFile(filepath.Join(repoRootT(t), "chapters", "app", "app.go"))
		require.NoError(t, err)
		routes := regexp.MustCompile(`(?m)^\s+"(/[a-z]+)":\s+\{`).FindAllStringSubmatch(string(app), -1)
		require.NotEmpty(t, routes, "the routes of chapters/app/app.go were not found")
		for _, r := range routes {
			require.Regexp(t, "\n\\| `(GET|POST) "+regexp.QuoteMeta(r[1])+"[` ?]", string(doc), "the test app serves %s: grader/README.md's table of routes must say what it answers", r[1])
		}
	})
	t.Run("placeholders", func(t *testing.T) {
		for _, p := range []string{"{port}", "{addr}", "{host}", "{flags}"} {
			require.True(t, strings.Contains(string(doc), "| `"+p+"` |"), "placeholder %s", p)
		}
	})
}
