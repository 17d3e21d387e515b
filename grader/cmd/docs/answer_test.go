package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readme is a chapter in the answers' layout: two steps, an answer to each (the second to steps 2 and 3).
const readme = "# A chapter\n\n### Step 1\n\nDo it. Stuck? [Answers](#answer-1).\n\n" +
	"### Step 2\n\nStuck? [Answers](#answer-2).\n\n## Answers\n\n" +
	"<a id=\"answer-1\"></a>\n<details>\n<summary>The answer to step 1</summary>\n\n" +
	"<!-- code src.go /^func one/,/^}/ -->\n```go\nstale copy\n```\n\nWhy it works.\n\n</details>\n\n" +
	"<a id=\"answer-2\"></a>\n<a id=\"answer-3\"></a>\n<details>\n<summary>The answer to steps 2 and 3</summary>\n\n" +
	"Two and three.\n\n</details>\n"

const src = "package x\n\nfunc one() {\n\treturn\n}\n"

func chapter(t *testing.T, md string) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "README.md"), []byte(md), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "src.go"), []byte(src), 0o644))
	return root
}

func TestAnswer(t *testing.T) {
	tests := []struct {
		name string
		md   string
		step int
		want string // the output, or the start of the error
		err  bool
	}{
		{"an answer's code comes from the file its marker names, not the README's copy", readme, 1,
			"The answer to step 1:\n\nsrc.go:\n\nfunc one() {\n\treturn\n}\n\nWhy it works.\n\n", false},
		{"one block answers two steps, each with its anchor", readme, 3, "The answer to steps 2 and 3:\n\nTwo and three.\n\n", false},
		{"a step without an answer: the steps that have one", readme, 4, "README.md has no answer to step 4; it has answers to steps 1, 2, 3", true},
		{"a README without anchors", "# A chapter\n\n<details>\n</details>\n", 1, "README.md keeps no answers by step", true},
		{"an anchor without its block", "<a id=\"answer-1\"></a>\n\ntext\n", 1, "README.md:1: the anchor of step 1 is not followed by <details>", true},
		{"a block never closed", "<a id=\"answer-1\"></a>\n<details>\ntext\n", 1, "README.md:1: the <details> of step 1 is not closed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := answer(&out, chapter(t, tt.md), "README.md", tt.step)
			if tt.err {
				require.Error(t, err)
				assert.True(t, strings.HasPrefix(err.Error(), tt.want), "error %q, want it to start with %q", err, tt.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, out.String())
		})
	}
}

func TestCheckAnswers(t *testing.T) {
	tests := []struct {
		name string
		md   string
		want []string // the problems' messages, in order
	}{
		{"the layout", readme, nil},
		{"a README without an Answers section is not checked", "<details>\n</details>\n[x](#answer-1)\n", nil},
		{"a link to an answer that is not there", strings.Replace(readme, "#answer-2)", "#answer-5)", 1),
			[]string{"README.md:9: a link to #answer-5, which no <a id=\"answer-5\"></a> anchors"}},
		{"an answer left in a step, unfolded in a terminal", strings.Replace(readme, "Do it.", "<details>\n</details>", 1),
			[]string{"README.md:5: a <details> block before the Answers section: a reader in a terminal sees it unfolded; move it under Answers"}},
		{"an anchor without its block", readme + "\n<a id=\"answer-4\"></a>\n",
			[]string{"README.md:35: an answer's anchor must be followed by its <details> block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, err := checkAnswers(chapter(t, tt.md), "README.md")
			require.NoError(t, err)
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestChapterAnswers prints every answer of each chapter that keeps them by step, as make answer does.
func TestChapterAnswers(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "chapters", "*", "README.md"))
	require.NoError(t, err)
	anchors := regexp.MustCompile("(?m)" + anchorRe.String())
	for _, md := range docs {
		rel, err := filepath.Rel(root, md)
		require.NoError(t, err)
		data, err := os.ReadFile(md)
		require.NoError(t, err)
		for _, m := range anchors.FindAllStringSubmatch(string(data), -1) {
			t.Run(rel+"#answer-"+m[1], func(t *testing.T) {
				step, err := strconv.Atoi(m[1])
				require.NoError(t, err)
				var out strings.Builder
				require.NoError(t, answer(&out, root, rel, step))
				assert.NotEmpty(t, strings.TrimSpace(out.String()))
			})
		}
	}
}
