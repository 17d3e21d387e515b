package shared

import (
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"course/chapters/app"
)

// Two counters opened on the same file stand for two processes: each has its own open file description
// (FileCounter) or its own mapping (MemoryCounter), as two workers do. Each is used by several goroutines at
// once, as a worker's threads use its counter: a flock lock does not keep them apart, the mutex must.
func TestNoLostUpdate(t *testing.T) {
	for _, tt := range []struct {
		name string
		open func(fd int) (app.Counter, error)
	}{
		{"file", func(fd int) (app.Counter, error) { return OpenFileCounter(fd) }},
		{"memory", func(fd int) (app.Counter, error) { return OpenMemoryCounter(fd) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New()
			require.NoError(t, err)
			defer f.Close()
			const procs, threads, each = 2, 4, 500
			const n = procs * threads
			var counters []app.Counter
			for range procs {
				c, err := tt.open(int(f.Fd()))
				require.NoError(t, err)
				counters = append(counters, c)
			}
			got := make([][]int64, n)
			var wg sync.WaitGroup
			for i := range n {
				c := counters[i%procs]
				wg.Go(func() {
					for range each {
						got[i] = append(got[i], c.Add(1))
					}
				})
			}
			wg.Wait()
			all := slices.Sorted(slices.Values(slices.Concat(got...)))
			require.Equal(t, int64(n*each), counters[0].Value())
			require.Len(t, slices.Compact(all), n*each, "every increment saw a value of its own")
			require.Equal(t, int64(n*each), Read(int(f.Fd())), "the value is in the file")
		})
	}
}
