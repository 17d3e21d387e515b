package spec

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/harness"
)

// fakeConfig returns a Config that grades the fake server (see TestMain) with specs.
func fakeConfig(t *testing.T, specs ...Spec) Config {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	return Config{
		Chapter: 9,
		Title:   "fake",
		Specs:   specs,
		Server:  harness.ServerConfig{Command: []string{exe}, Env: []string{serverEnv + "=1"}},
		Seed:    42,
		Grace:   2 * time.Second,
	}
}

// fetch sends GET path on a new connection and returns the response; failures are fatal.
func fetch(t *T, path string, wait time.Duration) *harness.Response {
	c := t.Dial()
	req := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
	t.Expect(req, "", "200 OK")
	if err := c.SendString(req); err != nil {
		t.Fatalf("sending GET %s: %v", path, err)
	}
	r, err := c.ReadResponse(wait, false)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	t.Expect(req, string(r.Raw), "200 OK")
	return r
}

func TestRun(t *testing.T) {
	specs := []Spec{
		{ID: "9.1", Title: "pass", Points: 2, Repro: "curl http://{addr}/hello # {host} {port}", Check: func(t *T) {
			r := fetch(t, "/hello", 5*time.Second)
			t.Diff("the body is not Hello", "Hello, World!\n", string(r.Body))
			t.Note("a measurement")
		}},
		{ID: "9.2", Title: "diff", Points: 1, Check: func(t *T) {
			r := fetch(t, "/hello", 5*time.Second)
			t.Diff("the body is not Goodbye", "Goodbye\n", string(r.Body))
			t.Logf("looked at %d bytes", len(r.Body))
		}},
		{ID: "9.3", Title: "hanging check", Points: 1, Fresh: true, Timeout: 300 * time.Millisecond, Check: func(t *T) {
			fetch(t, "/hang", time.Minute)
		}},
		{ID: "9.4", Title: "network error", Points: 1, Fresh: true, Check: func(t *T) {
			fetch(t, "/hang", 200*time.Millisecond)
		}},
		{ID: "9.5", Title: "panic", Points: 1, Check: func(t *T) {
			var m map[string]int
			m["x"] = 1
		}},
		{ID: "9.6", Title: "steps", Points: 1, Check: func(t *T) {
			t.Run("a", func(t *T) { t.Fatalf("boom") })
			ranB := t.Run("b", func(t *T) { fetch(t, "/hello", 5*time.Second) })
			t.Run("c", func(t *T) { t.Errorf("bad %d", 3) })
			if !ranB {
				t.Errorf("step b failed")
			}
		}},
		{ID: "9.7", Title: "server exits", Points: 1, Check: func(t *T) {
			fetch(t, "/exit", 5*time.Second)
		}},
		{ID: "9.8", Title: "after a restart", Points: 1, Check: func(t *T) {
			fetch(t, "/hello", 5*time.Second)
		}},
	}
	var progress []string
	cfg := fakeConfig(t, specs...)
	cfg.Progress = func(r Result) { progress = append(progress, r.ID) }
	rep := Run(context.Background(), cfg)

	require.Len(t, rep.Results, len(specs))
	require.Equal(t, []string{"9.1", "9.2", "9.3", "9.4", "9.5", "9.6", "9.7", "9.8"}, progress)
	require.Equal(t, 3, rep.Score)
	require.Equal(t, 9, rep.Total)
	var earned []int
	for _, r := range rep.Results {
		earned = append(earned, r.Earned)
	}
	require.Equal(t, []int{2, 0, 0, 0, 0, 0, 0, 1}, earned, "a passing spec earns its points, a failing one none")
	require.False(t, rep.Passed())
	require.Empty(t, rep.Problems)
	require.NotNil(t, rep.Shutdown)
	require.True(t, rep.Shutdown.Graceful, "the fake server exits on SIGTERM")

	byID := map[string]Result{}
	for _, r := range rep.Results {
		byID[r.ID] = r
	}
	tests := []struct {
		id      string
		passed  bool
		message string // a part of the message
	}{
		{"9.1", true, ""},
		{"9.2", false, "the body is not Goodbye (-want +got below)"},
		{"9.3", false, "the check did not finish within 300ms: the server may be hanging"},
		{"9.4", false, "GET /hang: timed out waiting for the server"},
		{"9.5", false, "internal error in the grader (please report it): assignment to entry in nil map"},
		{"9.6", false, "a: boom\nc: bad 3"},
		{"9.7", false, "the server exited during this check (exit status 3)"},
		{"9.8", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			r := byID[tc.id]
			require.Equal(t, tc.passed, r.Passed, r.Message)
			require.True(t, r.Ran)
			if tc.message == "" {
				require.Empty(t, r.Message)
			} else {
				require.Contains(t, r.Message, tc.message)
			}
		})
	}

	pass := byID["9.1"]
	require.Equal(t, []string{"a measurement"}, pass.Notes)
	require.Empty(t, pass.Transcripts, "the transcripts of a passing spec are kept only with Verbose")
	host, port := splitAddr(pass.Addr)
	require.Equal(t, "curl http://"+pass.Addr+"/hello # "+host+" "+port, pass.Repro)

	diff := byID["9.2"]
	// go-cmp varies its spacing on purpose, so only the values are looked for.
	require.Contains(t, diff.Details.Diff, `"Goodbye\n"`)
	require.Contains(t, diff.Details.Diff, `"Hello, World!\n"`)
	require.Equal(t, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", diff.Details.Sent)
	require.Contains(t, diff.Details.Got, "HTTP/1.1 200 OK\r\n")
	require.Equal(t, []string{"looked at 14 bytes"}, diff.Logs)
	require.Len(t, diff.Transcripts, 1)
	require.Contains(t, diff.Transcripts[0], `> GET /hello HTTP/1.1\r\n`)

	hang := byID["9.3"]
	require.Less(t, hang.Duration, 3*time.Second, "a check past its time limit is abandoned")
	require.NotEqual(t, byID["9.1"].Addr, hang.Addr, "a Fresh spec gets a server of its own")

	exit := byID["9.7"]
	require.Contains(t, exit.Server, "fake server exiting on request")
	require.NotEqual(t, exit.Addr, byID["9.8"].Addr, "a new server is started after one died")
}

func TestRunVerboseKeepsTranscripts(t *testing.T) {
	cfg := fakeConfig(t, Spec{ID: "9.1", Title: "pass", Points: 1, Check: func(t *T) { fetch(t, "/hello", 5*time.Second) }})
	cfg.Verbose = true
	rep := Run(context.Background(), cfg)
	require.True(t, rep.Passed())
	require.Len(t, rep.Results[0].Transcripts, 1)
	require.Contains(t, rep.Results[0].Transcripts[0], `< Hello, World!\n`)
}

func TestRunServerDoesNotStart(t *testing.T) {
	noop := func(t *T) {}
	cfg := fakeConfig(t, Spec{ID: "9.1", Points: 1, Check: noop}, Spec{ID: "9.2", Points: 2, Check: noop})
	cfg.Server = harness.ServerConfig{Command: []string{"sh", "-c", "echo cannot bind; exit 7", "sh"}}
	rep := Run(context.Background(), cfg)

	require.False(t, rep.Passed())
	require.Equal(t, 0, rep.Score)
	require.Equal(t, 3, rep.Total)
	require.False(t, rep.Results[0].Ran)
	require.Contains(t, rep.Results[0].Message, "not run: the server did not start: ")
	require.Contains(t, rep.Results[0].Message, "cannot bind")
	require.Equal(t, "not run: the server did not start (see 9.1)", rep.Results[1].Message)
}

func TestRunStaticSpecNeedsNoServer(t *testing.T) {
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 1, Check: func(t *T) {}},
		Spec{ID: "9.2", Points: 2, Static: true, Check: func(t *T) {
			if t.Source() != "/src" {
				t.Errorf("source %q", t.Source())
			}
		}},
	)
	cfg.Source = "/src"
	cfg.Server = harness.ServerConfig{Command: []string{"sh", "-c", "exit 7", "sh"}}
	rep := Run(context.Background(), cfg)
	require.False(t, rep.Results[0].Ran)
	require.True(t, rep.Results[1].Ran, "a spec that reads the code runs without a server")
	require.True(t, rep.Results[1].Passed, rep.Results[1].Message)
	require.Equal(t, 2, rep.Score)
}

func TestRunStaticSpecWithoutCode(t *testing.T) {
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 1, Check: func(t *T) {}},
		Spec{ID: "9.2", Title: "reads the code", Points: 2, Static: true, Check: func(t *T) { t.Errorf("must not run") }},
	)
	rep := Run(context.Background(), cfg)
	require.Len(t, rep.Results, 1, "a spec that reads the code is left out when there is none")
	require.Equal(t, []string{"9.2 reads the code"}, rep.Unread)
	require.Equal(t, 1, rep.Total, "and out of the total")
}

func TestRunStoppedByContext(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("the time limit of the whole run (-timeout 1s) ran out"))
	cfg := fakeConfig(t, Spec{ID: "9.1", Points: 1, Check: func(t *T) { t.Errorf("must not run") }})
	rep := Run(ctx, cfg)
	require.False(t, rep.Results[0].Ran)
	require.Equal(t, "not run: the time limit of the whole run (-timeout 1s) ran out", rep.Results[0].Message)
	require.Nil(t, rep.Shutdown, "no server was started")
	require.Equal(t, "the time limit of the whole run (-timeout 1s) ran out", rep.Stopped)
}

func TestRunInterruptedCheck(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 1, Check: func(t *T) {
			cancel()
			fetch(t, "/hang", time.Minute)
		}},
		Spec{ID: "9.2", Points: 1, Check: func(t *T) {}},
	)
	rep := Run(ctx, cfg)
	require.False(t, rep.Results[0].Ran, "a check cut short by the context is not the server's fault")
	require.Equal(t, "stopped: the run was interrupted", rep.Results[0].Message)
	require.Equal(t, "not run: the run was interrupted", rep.Results[1].Message)
	require.Equal(t, "the run was interrupted", rep.Stopped)
	require.NotNil(t, rep.Shutdown, "the server that was started is stopped")
}

// A process of the server still running when the server is gone is killed and reported, and the stop is not
// graceful: one that left the process group (a daemon), and one in it that ignores SIGTERM.
func TestRunReportsLeftovers(t *testing.T) {
	for _, tc := range []struct{ path, cmdline string }{{"/spawn", "sleep 30"}, {"/child", "sleep 31"}} {
		t.Run(tc.path, func(t *testing.T) {
			cfg := fakeConfig(t, Spec{ID: "9.1", Points: 1, Check: func(t *T) {
				if r := fetch(t, tc.path, 5*time.Second); r.Status != 204 {
					t.Errorf("GET %s: status %d", tc.path, r.Status)
				}
			}})
			cfg.Grace = 500 * time.Millisecond
			rep := Run(context.Background(), cfg)
			require.True(t, rep.Results[0].Passed, rep.Results[0].Message)
			require.False(t, rep.Passed(), "a process left behind fails the run")
			require.False(t, rep.Shutdown.Graceful, "a process that had to be killed is no graceful stop")
			require.False(t, rep.Shutdown.Killed, "the server itself exited on SIGTERM")
			require.Len(t, rep.Shutdown.Leftovers, 1)
			require.Regexp(t, `^pid \d+ \(`+tc.cmdline+`\)$`, rep.Shutdown.Leftovers[0])
			require.Len(t, rep.Problems, 1)
			require.Regexp(t, `^processes left behind: pid \d+ \(`+tc.cmdline+`\), still running when the server's main process was gone, were killed`, rep.Problems[0])
		})
	}
}

// Without {flags}, the server gets no flags at all: the fake server, which takes only -addr, would exit at
// the first one.
func TestRunNoFlags(t *testing.T) {
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 2, Check: func(t *T) { fetch(t, "/hello", 5*time.Second) }},
		Spec{ID: "9.2", Points: 1, Flags: []string{"-body-timeout", "1s"}, Check: func(t *T) { fetch(t, "/hello", 5*time.Second) }},
	)
	cfg.Server.Flags = []string{"-idle-timeout", "1s"}
	cfg.NoFlags = true
	rep := Run(context.Background(), cfg)
	require.True(t, rep.Passed(), "%+v", rep)
	require.Equal(t, []int{2, 1}, []int{rep.Results[0].Earned, rep.Results[1].Earned})
	require.Empty(t, rep.Results[0].Notes)
	require.Equal(t, []string{"its server was started without the flags of this spec (-body-timeout 1s): the command has no {flags}"}, rep.Results[1].Notes)
}

func TestRunFailsAServerThatIgnoresSIGTERM(t *testing.T) {
	t.Setenv(deafEnv, "1")
	cfg := fakeConfig(t, Spec{ID: "9.1", Points: 1, Check: func(t *T) { fetch(t, "/hello", 5*time.Second) }})
	rep := Run(context.Background(), cfg)
	require.True(t, rep.Results[0].Passed, rep.Results[0].Message)
	require.False(t, rep.Passed(), "a server that must be killed fails the run")
	require.False(t, rep.Shutdown.Graceful)
	require.Len(t, rep.Problems, 1)
	require.Contains(t, rep.Problems[0], "did not exit within")
}

// alive is a Config.Alive for the fake server: GET /hello answered within half a second.
func alive(addr string) error {
	c, err := harness.Dial(addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendString("GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		return err
	}
	_, err = c.ReadResponse(500*time.Millisecond, false)
	return err
}

func TestRunReplacesAHungServer(t *testing.T) {
	hello := func(t *T) { fetch(t, "/hello", 5*time.Second) }
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 1, Check: func(t *T) {
			c := t.Dial()
			c.SendString("GET /hang HTTP/1.1\r\n\r\n") // the fake server hangs for good
			t.Errorf("failed on purpose")
		}},
		Spec{ID: "9.2", Points: 1, Check: hello},
	)
	cfg.Alive = alive
	rep := Run(context.Background(), cfg)
	require.Contains(t, rep.Results[0].Server, "after this check, GET /hello got no answer (")
	require.True(t, rep.Results[1].Passed, "a new server answers: %s", rep.Results[1].Message)
	require.NotEqual(t, rep.Results[0].Addr, rep.Results[1].Addr)
}

func TestRunGivesUpOnAMuteServer(t *testing.T) {
	t.Setenv(muteEnv, "1")
	start := time.Now()
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 1, Check: func(t *T) { fetch(t, "/hello", 300*time.Millisecond) }},
		Spec{ID: "9.2", Points: 1, Check: func(t *T) { t.Errorf("must not run") }},
		Spec{ID: "9.3", Points: 1, Check: func(t *T) { t.Errorf("must not run") }},
	)
	cfg.Alive = alive
	rep := Run(context.Background(), cfg)
	require.True(t, rep.Results[0].Ran)
	require.False(t, rep.Results[1].Ran)
	require.Regexp(t, `^not run: a new server did not answer either \(.*; see 9\.1\)$`, rep.Results[1].Message)
	require.Equal(t, rep.Results[1].Message, rep.Results[2].Message)
	require.Less(t, time.Since(start), 5*time.Second, "the specs left do not each wait out their time limit")
}

func TestRunReportsRaces(t *testing.T) {
	// The output reaches the grader a little after the server writes it: wait for it, so that the report
	// is seen after the spec that caused it.
	race := func(t *T) {
		fetch(t, "/race", 5*time.Second)
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(t.Server().Output(), RaceWarning) {
				return
			}
		}
		t.Errorf("the race report did not reach the output")
	}
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 1, Check: race},
		Spec{ID: "9.2", Points: 1, Check: func(t *T) { fetch(t, "/hello", 5*time.Second) }},
		Spec{ID: "9.3", Points: 1, Fresh: true, Check: race},
	)
	rep := Run(context.Background(), cfg)
	for _, r := range rep.Results {
		require.True(t, r.Passed, "%s: %s", r.ID, r.Message)
	}
	require.False(t, rep.Passed(), "a race report fails the run")
	require.Len(t, rep.Problems, 2, "one problem for each spec during which a server reported a race")
	for i, id := range []string{"9.1", "9.3"} {
		p := rep.Problems[i]
		require.True(t, strings.HasPrefix(p, "the server reported a data race, seen in its output after spec "+id+": "), p)
		_, report, _ := strings.Cut(p, "synchronization. Its report:\n")
		require.Equal(t, `WARNING: DATA RACE
Read at 0x00c0000964b8 by goroutine 13:
  main.(*racy).Add()
      /src/server.go:162 +0x30
  main.count()
      /src/app.go:218 +0x64
  main.dispatch()
      /src/app.go:147 +0x543
  ...
Previous write at 0x00c0000964b8 by goroutine 12:
  main.(*racy).Add()
      /src/server.go:162 +0x44`, report)
	}
}

func TestRunStops(t *testing.T) {
	stop := func(t *T) {
		fetch(t, "/hello", 5*time.Second)
		if err := t.Server().Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("%v", err)
		}
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if exited, _ := t.Server().Exited(); exited {
				return
			}
		}
		t.Errorf("the server did not exit")
	}
	cfg := fakeConfig(t,
		Spec{ID: "9.1", Points: 1, Fresh: true, Stops: true, Check: stop},
		Spec{ID: "9.2", Points: 1, Fresh: true, Check: stop},
	)
	rep := Run(context.Background(), cfg)
	stopped, unexpected := rep.Results[0], rep.Results[1]
	require.True(t, stopped.Passed, "a spec that stops its server on purpose passes: %s", stopped.Message)
	require.Empty(t, stopped.Server)
	require.Empty(t, stopped.Logs, "its server is not said to have ignored SIGTERM")
	require.False(t, unexpected.Passed, "without Stops, a server that exits fails the spec")
	require.Contains(t, unexpected.Message, "the server exited during this check (killed by signal 15")
}

func TestExpand(t *testing.T) {
	tests := []struct{ in, addr, want string }{
		{"curl http://{addr}/hello", "127.0.0.1:8080", "curl http://127.0.0.1:8080/hello"},
		{"printf 'x' | nc {host} {port}", "127.0.0.1:41234", "printf 'x' | nc 127.0.0.1 41234"},
		{"{host}:{port} {addr}", "[::1]:80", "::1:80 [::1]:80"},
		{"no placeholders", "127.0.0.1:1", "no placeholders"},
		{"curl -w '%{time_total}' http://{addr}/", "127.0.0.1:9", "curl -w '%{time_total}' http://127.0.0.1:9/"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, Expand(tc.in, tc.addr), tc.in)
	}
}

func TestDescribeNetErrors(t *testing.T) {
	err := &harness.ReadError{Err: os.ErrDeadlineExceeded, Wait: time.Second}
	got := describe([]any{"x", err, 3, errors.New("plain")})
	require.Equal(t, "x", got[0])
	require.Equal(t, harness.DescribeNetError(err), got[1])
	require.Equal(t, 3, got[2])
	require.Equal(t, errors.New("plain"), got[3], "an error that is not from the network stays as it is")
	require.True(t, strings.HasPrefix(got[1].(string), "timed out waiting for the server"))

	pe := &harness.ParseError{Reason: "no status line", Offset: 0}
	require.Equal(t, []any{harness.DescribeNetError(pe)}, describe([]any{pe}))
}

// TestRunShowsTheFailingCaseAdvice checks that a failure in a sub-case reports that case's hint and repro
// line, an outer case's when it has none, and the spec's outside any case; and that a sub-case missing from
// the table is a problem of the run.
func TestRunShowsTheFailingCaseAdvice(t *testing.T) {
	cases := map[string]Case{
		"length":  {Hint: "count the bytes", Repro: "curl http://{addr}/length"},
		"chunked": {Hint: "read the chunks"},
	}
	specs := []Spec{
		{ID: "9.1", Title: "case", Hint: "spec hint", Repro: "spec repro", Cases: cases, Check: func(t *T) {
			t.Run("length", func(t *T) {})
			t.Run("chunked", func(t *T) { t.Errorf("no chunks") })
		}},
		{ID: "9.2", Title: "nested", Hint: "spec hint", Repro: "spec repro {port}", Cases: cases, Check: func(t *T) {
			t.Run("length", func(t *T) {
				t.Run("short", func(t *T) { t.Errorf("too short") })
			})
		}},
		{ID: "9.3", Title: "outside", Hint: "spec hint", Repro: "spec repro", Cases: cases, Check: func(t *T) {
			t.Errorf("before any case")
			t.Run("chunked", func(t *T) { t.Errorf("no chunks") })
		}},
		{ID: "9.4", Title: "unknown", Hint: "spec hint", Cases: cases, Check: func(t *T) {
			t.Run("typo", func(t *T) {})
		}},
	}
	rep := Run(context.Background(), fakeConfig(t, specs...))
	require.Len(t, rep.Results, 4)
	r := rep.Results
	require.Equal(t, "chunked", r[0].Case)
	require.Equal(t, "read the chunks", r[0].Hint)
	require.Equal(t, "spec repro", r[0].Repro, "a case without a repro line takes the spec's")
	require.Equal(t, "length/short", r[1].Case)
	require.Equal(t, "count the bytes", r[1].Hint)
	require.Equal(t, "curl http://"+r[1].Addr+"/length", r[1].Repro)
	require.Equal(t, "", r[2].Case)
	require.Equal(t, "spec hint", r[2].Hint)
	require.True(t, r[3].Passed)
	require.Len(t, rep.Problems, 1)
	require.Contains(t, rep.Problems[0], `spec 9.4 runs a sub-case "typo"`)
}
