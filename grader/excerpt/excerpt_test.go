package excerpt

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	src := "package p\n\nfunc a() {\n\tx := 1 // OMIT\n\treturn\n}\n\nfunc b() {}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644))
	tests := []struct {
		addr, want, err string
	}{
		{"/^func a/,/^}/", "func a() {\n\treturn\n}\n", ""},
		{"/^func b/", "func b() {}\n", ""},
		{"3,4", "func a() {\n", ""},
		{"/^func c/", "", "no line matches"},
		{"/^func a/,/^nothing/", "", "no line matches"},
		{"9,12", "", "not in a file"},
		{"func a", "", "bad address"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := Extract(dir, "p.go", tt.addr)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCheckAndFix(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte("func a() {\n\treturn\n}\n"), 0o644))
	md := "# T\n\n<!-- code p.go /^func a/,/^}/ -->\n```go\nfunc a() {\n}\n```\n\nafter\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.md"), []byte(md), 0o644))

	problems, err := Check(dir, "c.md")
	require.NoError(t, err)
	require.Len(t, problems, 1)
	require.Contains(t, problems[0].String(), "c.md:3: differs from p.go")

	left, err := Fix(dir, "c.md")
	require.NoError(t, err)
	require.Empty(t, left)
	fixed, err := os.ReadFile(filepath.Join(dir, "c.md"))
	require.NoError(t, err)
	require.Equal(t, "# T\n\n<!-- code p.go /^func a/,/^}/ -->\n```go\nfunc a() {\n\treturn\n}\n```\n\nafter\n", string(fixed))

	problems, err = Check(dir, "c.md")
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestCourseExcerpts checks every excerpt of the course's chapters and slides against the real files.
func TestCourseExcerpts(t *testing.T) {
	root := filepath.Join("..", "..")
	docs, err := filepath.Glob(filepath.Join(root, "chapters", "*", "README.md"))
	require.NoError(t, err)
	docs = append(docs, filepath.Join(root, "README.md"))
	for _, md := range docs {
		rel, _ := filepath.Rel(root, md)
		problems, err := Check(root, rel)
		require.NoError(t, err)
		for _, p := range problems {
			t.Error(p)
		}
	}
	slides, err := filepath.Glob(filepath.Join(root, "slides", "*.slide"))
	require.NoError(t, err)
	for _, s := range slides {
		for _, p := range CheckSlide(s) {
			t.Error(p)
		}
	}
}
