package main

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestListenAddress checks the addresses the server accepts without a resolver. (The tests of the steps, which
// the learner writes, are in chapters/03-event-driven: the self-check runs them on this solution.)
func TestListenAddress(t *testing.T) {
	tests := []struct {
		addr   string
		domain int
		err    bool
	}{
		{"127.0.0.1:8080", unix.AF_INET, false},
		{"localhost:0", unix.AF_INET, false},
		{":80", unix.AF_INET, false},
		{"[::1]:8080", unix.AF_INET6, false},
		{"example.com:80", 0, true},
		{"127.0.0.1", 0, true},
		{"127.0.0.1:http", 0, true},
		{"127.0.0.1:70000", 0, true},
	}
	for _, tt := range tests {
		_, domain, err := sockaddr(tt.addr)
		if tt.err {
			require.Error(t, err, tt.addr)
			continue
		}
		require.NoError(t, err, tt.addr)
		require.Equal(t, tt.domain, domain, tt.addr)
	}

	fd, port, err := listen("127.0.0.1:0")
	require.NoError(t, err)
	defer unix.Close(fd)
	require.NotZero(t, port)
	_, _, err = listen("127.0.0.1:" + strconv.Itoa(port))
	require.ErrorIs(t, err, unix.EADDRINUSE, "a second listener on the same port")
}
