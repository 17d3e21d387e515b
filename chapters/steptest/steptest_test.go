package steptest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWithin(t *testing.T) {
	require.True(t, Within(t, time.Second, "a quick call", func() {}))
}

// recorder is a testing.TB that records its failures instead of failing the test.
type recorder struct {
	testing.TB
	failed []string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Errorf(format string, args ...any) { r.failed = append(r.failed, format) }

func TestWithinFails(t *testing.T) {
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"too slow", func() { time.Sleep(time.Second) }},
		{"panics", func() { panic("boom") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			require.False(t, Within(r, 50*time.Millisecond, "f", tt.f))
			require.Len(t, r.failed, 1)
		})
	}
}

func TestFieldsSet(t *testing.T) {
	dir := t.TempDir()
	code := "package main\n\nfunc f(s *S) { s.A = true; _ = S{B: 1} }\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.go"), []byte(code), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a_test.go"), []byte("package main\n\nfunc g(s *S) { s.C = 1 }\n"), 0o644))
	set, err := FieldsSet(dir, "A", "B", "C", "D")
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"A": true, "B": true}, set, "C is set in a test only, D nowhere")
}
