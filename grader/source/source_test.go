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
