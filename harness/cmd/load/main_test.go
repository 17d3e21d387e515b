package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRequest(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		method   string
		hdrs     headers
		body     string
		wantAddr string
		wantReq  string
		wantErr  string
	}{
		{
			name:     "GET",
			url:      "http://127.0.0.1:8080/hello?x=1",
			method:   "GET",
			wantAddr: "127.0.0.1:8080",
			wantReq:  "GET /hello?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
		},
		{
			name:     "default port and path",
			url:      "http://localhost",
			method:   "GET",
			wantAddr: "localhost:80",
			wantReq:  "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
		},
		{
			name:     "POST with headers and body",
			url:      "http://[::1]:9000/echo",
			method:   "POST",
			hdrs:     headers{"X-Test: 1", "host: other"},
			body:     "hello",
			wantAddr: "[::1]:9000",
			wantReq:  "POST /echo HTTP/1.1\r\nX-Test: 1\r\nhost: other\r\nContent-Length: 5\r\n\r\nhello",
		},
		{name: "another host", url: "http://example.com/", method: "GET", wantErr: "not a loopback address"},
		{name: "a private address", url: "http://10.0.0.1:80/", method: "GET", wantErr: "not a loopback address"},
		{name: "any address", url: "http://0.0.0.0:80/", method: "GET", wantErr: "not a loopback address"},
		{name: "https", url: "https://127.0.0.1/", method: "GET", wantErr: "only http://"},
		{name: "bad method", url: "http://127.0.0.1/", method: "GET /x", wantErr: "bad method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, req, err := request(tt.url, tt.method, tt.hdrs, tt.body)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantAddr, addr)
			require.Equal(t, tt.wantReq, string(req))
		})
	}
}

func TestHeadersSet(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"X-A: 1", false},
		{"X-A:", false},
		{"no colon", true},
		{": no name", true},
		{"X-A: 1\r\nX-B: 2", true},
	}
	for _, tt := range tests {
		var h headers
		err := h.Set(tt.in)
		require.Equal(t, tt.wantErr, err != nil, "%q: %v", tt.in, err)
	}
}
