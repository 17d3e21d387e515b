package main

import (
	"os"
	"slices"
	"sync"
	"testing"

	"course/chapters/gateway"
	"course/chapters/steptest"
)

// Step 6: shared data and wsgi.multithread. README: "Step 6: shared data and wsgi.multithread".

func TestStep6SharedData(t *testing.T) {
	given := gateway.Server{Name: "127.0.0.1", Port: "8080", Errors: os.Stderr}
	tests := []struct {
		rule  string
		check func(t *testing.T)
	}{
		{"the counter, added to by 8 goroutines at once, loses no increment and answers no value twice", func(t *testing.T) {
			const goroutines, adds = 8, 2000
			c := newCounter()
			got := make([][]int64, goroutines)
			var wg sync.WaitGroup
			for i := range goroutines {
				wg.Go(func() {
					for range adds {
						got[i] = append(got[i], c.Add(1))
					}
				})
			}
			if !within(t, patience, "16000 calls of Add", wg.Wait) {
				return
			}
			if v := c.Value(); v != goroutines*adds {
				t.Errorf("Value() is %d after %d calls of Add(1) from %d goroutines at once; want %d: %d increments were lost", v, goroutines*adds, goroutines, goroutines*adds, goroutines*adds-v)
			}
			all := slices.Concat(got...)
			slices.Sort(all)
			if dup := len(all) - len(slices.Compact(all)); dup > 0 {
				t.Errorf("Add answered %d values that another call had answered already: two calls read the same count, and both wrote it plus 1", dup)
			}
			if !raceDetector {
				t.Error("this test also needs the race detector, which sees a race even where no increment happens to be lost: " +
					"run it with make check CHAPTER=2 STEP=6, or go test -race")
			}
		}},
		{"wsgi.multithread is true: the pool's workers call the app at once, in one process (PEP 3333)", func(t *testing.T) {
			if got := describe(given); !got.MultiThread {
				t.Error("describe left MultiThread false: can another goroutine of this process call the app while it runs a request? (README: wsgi.multithread)")
			}
		}},
		{"wsgi.multiprocess is false: no other process runs this app (PEP 3333)", func(t *testing.T) {
			if got := describe(given); got.MultiProcess {
				t.Error("describe set MultiProcess true: can another process call the app while it runs? This server is one process (README: wsgi.multithread)")
			}
		}},
		{"describe keeps what launch.Listen said of the server: its name, port and error stream", func(t *testing.T) {
			got := describe(given)
			if got.Name != given.Name || got.Port != given.Port || got.Errors != given.Errors {
				t.Errorf("describe(%+v) = %+v; want the same Name, Port and Errors", given, got)
			}
		}},
		{"the server's code sets MultiThread and MultiProcess itself: a decision, not a value left as it was", func(t *testing.T) {
			set, err := steptest.FieldsSet(".", "MultiThread", "MultiProcess")
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"MultiThread", "MultiProcess"} {
				if !set[f] {
					t.Errorf("no code of the server sets %s: decide what is true of this server, set it in describe, and say why in a comment", f)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, tt.check)
	}
}
