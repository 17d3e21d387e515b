package source

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLoad(t *testing.T) {
	p, err := Load(context.Background(), "testdata/sample")
	require.NoError(t, err)
	require.Equal(t, "course/grader/source/testdata/sample", p.Path)
	require.Equal(t, []string{"net (sample.go:5)"}, p.Imported("net", "net/http/"), "tests are left out")
	require.Equal(t, []string{"golang.org/x/sys/unix (sample.go:8)"}, p.Imported("golang.org/x/sys/"))
	require.Equal(t, []string{"sample.go:23"}, p.Go)
	require.Equal(t, []string{"golang.org/x/sys/unix.EpollWait (sample.go:13)"}, p.Called("golang.org/x/sys/unix.EpollWait"), "found under another import name")
	require.Equal(t, []string{"(*sync.WaitGroup).Go (sample.go:24)"}, p.Called("(*sync.WaitGroup).Go", "net.Listen"))
	require.Equal(t, []string{"course/grader/source/testdata/sample.first (sample.go:24)"}, p.Called("course/grader/source/testdata/sample.first"), "a generic function")
	require.Contains(t, p.Calls, "(net.Listener).Accept")
}

func TestLoadFails(t *testing.T) {
	_, err := Load(context.Background(), "testdata/missing")
	require.Error(t, err)
}

func TestCalledFrom(t *testing.T) {
	p, err := Load(context.Background(), "testdata/sample")
	require.NoError(t, err)
	tests := []struct {
		refs []string
		want []string
	}{
		{[]string{"unix.EpollWait("}, []string{"unix.EpollWait (sample.go:13)"}},                                              // by the package's name, not the import's
		{[]string{"sys.EpollWait"}, nil},                                                                                      // the import's name is not the package's
		{[]string{".Accept("}, []string{".Accept (sample.go:19)"}},                                                            // net.Listener's, not the package's own
		{[]string{"unix.EpollCreate1(", "http.NewServeMux(", "net.Accept"}, nil},                                              // a comment, a string, a test, a method
		{[]string{".Close", "sync.Go", "unix.EpollWait"}, []string{".Close (sample.go:23)", "unix.EpollWait (sample.go:13)"}}, // a go statement's call too
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, p.CalledFrom(tc.refs...), "%q", tc.refs)
	}
}
