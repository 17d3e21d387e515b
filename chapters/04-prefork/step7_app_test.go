package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"course/harness"
)

// Step 7: what the app is told, and a counter the workers share.

func TestStep7Flags(t *testing.T) {
	for _, tt := range []struct {
		threads string
		want    map[string]string
	}{
		{"1", map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "false"}},
		{"4", map[string]string{"wsgi.multiprocess": "true", "wsgi.multithread": "true"}},
	} {
		t.Run("-threads "+tt.threads, func(t *testing.T) {
			srv := startMaster(t, "-workers", "2", "-threads", tt.threads)
			c := dial(t, srv)
			env := map[string]string{}
			if err := json.Unmarshal(get(t, c, "/env").Body, &env); err != nil {
				t.Fatalf("GET /env: %v", err)
			}
			for k, v := range tt.want {
				if env[k] != v {
					t.Errorf("with -workers 2 -threads %s, %s is %q, want %q", tt.threads, k, env[k], v)
				}
			}
		})
	}
}

func TestStep7Counters(t *testing.T) {
	const each = 200
	for _, kind := range []string{"local", "file", "shm"} {
		t.Run("-counter "+kind, func(t *testing.T) {
			srv := startMaster(t, "-workers", "2", "-threads", "1", "-counter", kind)
			workers(t, srv, 2, "-workers 2")
			// With -threads 1 a worker serves one connection at a time: two connections that stay open are
			// served by the two workers.
			a, b := dial(t, srv), dial(t, srv)
			if pa, pb := whoAnswers(t, a).PID, whoAnswers(t, b).PID; pa == pb {
				t.Fatalf("both connections are served by pid %d; want one worker each", pa)
			}
			values := make([][]int64, 2)
			var wg sync.WaitGroup
			for i, c := range []*harness.Conn{a, b} {
				wg.Go(func() {
					for range each {
						n, err := strconv.ParseInt(strings.TrimSpace(string(get(t, c, "/counter").Body)), 10, 64)
						if err != nil {
							t.Error(err)
							return
						}
						values[i] = append(values[i], n)
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			last := max(values[0][each-1], values[1][each-1])
			if kind == "local" {
				if last != each {
					t.Errorf("with -counter local each worker counts its own requests: the last value is %d, want %d", last, each)
				}
				return
			}
			all := slices.Sorted(slices.Values(slices.Concat(values...)))
			if last != 2*each || len(slices.Compact(all)) != 2*each {
				t.Errorf("with -counter %s, 2 workers counted %d requests as %d (%d different values): increments were lost", kind, 2*each, last, len(slices.Compact(all)))
			}
		})
	}
}
