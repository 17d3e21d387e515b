package wsgi

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/chapters/gateway"
)

// TestFlask serves a Flask application (flaskapp.py) through the daemon: the daemon runs any WSGI
// application, not only the course's.
func TestFlask(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, options{app: "flaskapp:app", threads: 2, processes: 2, modules: []string{"flask"}})
	tests := []struct {
		req          request
		wantStatus   string
		wantHeader   map[string]string
		wantBody     string // exact, unless wantBodyHas is set
		wantBodyHas  string
		wantInStderr string
	}{
		{
			req:        request{method: "GET", target: "/"},
			wantStatus: "200 OK", wantHeader: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			wantBody: "Hello from Flask!\n",
		},
		{
			req:        request{method: "GET", target: "/hello/Ada"},
			wantStatus: "200 OK", wantHeader: map[string]string{"Content-Type": "application/json"},
			wantBodyHas: `"greeting":"Hello, Ada!","multiprocess":true,"multithread":true,"visits":1`,
		},
		{
			req: request{method: "POST", target: "/echo", body: `{"a": [1, 2], "b": "c"}`,
				header: []gateway.Header{hdr("Content-Type", "application/json")}},
			wantStatus: "200 OK", wantBodyHas: `{"a":[1,2],"b":"c"}`,
		},
		{
			req:        request{method: "GET", target: "/old"},
			wantStatus: "302 FOUND", wantHeader: map[string]string{"Location": "/"},
			wantBodyHas: "Redirecting",
		},
		{
			req:         request{method: "GET", target: "/boom"},
			wantStatus:  "500 INTERNAL SERVER ERROR",
			wantBodyHas: "Internal Server Error", wantInStderr: "RuntimeError: boom",
		},
		{
			req:        request{method: "GET", target: "/nope"},
			wantStatus: "404 NOT FOUND", wantBodyHas: "Not Found",
		},
		{
			req:        request{method: "DELETE", target: "/"},
			wantStatus: "405 METHOD NOT ALLOWED", wantBodyHas: "Method Not Allowed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.req.String(), func(t *testing.T) {
			rep := mustSend(t, d.sock, tt.req)
			require.Equal(t, tt.wantStatus, rep.status, "body %q", rep.body)
			for name, want := range tt.wantHeader {
				require.Equal(t, want, rep.get(name), "header %s", name)
			}
			if tt.wantBodyHas != "" {
				// Flask's JSON may or may not put spaces after its separators, by version.
				require.Contains(t, strings.ReplaceAll(rep.body, " ", ""), strings.ReplaceAll(tt.wantBodyHas, " ", ""))
			} else {
				require.Equal(t, tt.wantBody, rep.body)
			}
			if tt.wantInStderr != "" {
				d.waitLog(tt.wantInStderr, 5*time.Second)
			}
		})
	}
}
