package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTimers(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	type op struct {
		kind  string // "set", "stop"
		timer int
		ms    int
	}
	tests := []struct {
		name    string
		ops     []op
		now     int   // expire the timers due at this time
		expired []int // in this order
		next    int   // then the nearest deadline left, -1 for none
	}{
		{"in order of deadline", []op{{"set", 0, 30}, {"set", 1, 10}, {"set", 2, 20}}, 100, []int{1, 2, 0}, -1},
		{"only those due", []op{{"set", 0, 30}, {"set", 1, 10}, {"set", 2, 20}}, 20, []int{1, 2}, 30},
		{"none due", []op{{"set", 0, 30}}, 29, nil, 30},
		{"moved later", []op{{"set", 0, 10}, {"set", 1, 20}, {"set", 0, 30}}, 25, []int{1}, 30},
		{"moved earlier", []op{{"set", 0, 10}, {"set", 1, 20}, {"set", 1, 5}}, 100, []int{1, 0}, -1},
		{"stopped", []op{{"set", 0, 10}, {"set", 1, 20}, {"set", 2, 30}, {"stop", 1, 0}}, 100, []int{0, 2}, -1},
		{"stopped twice, set again", []op{{"set", 0, 10}, {"stop", 0, 0}, {"stop", 0, 0}, {"set", 0, 40}}, 30, nil, 40},
		{"stopped while not set", []op{{"stop", 0, 0}, {"set", 1, 5}}, 10, []int{1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h timers
			ts := make([]*timer, 3)
			ids := map[*timer]int{}
			for i := range ts {
				ts[i] = &timer{index: -1}
				ids[ts[i]] = i
			}
			for _, o := range tt.ops {
				switch o.kind {
				case "set":
					h.set(ts[o.timer], at(o.ms))
				case "stop":
					h.stop(ts[o.timer])
				}
			}
			var got []int
			for x := h.expired(at(tt.now)); x != nil; x = h.expired(at(tt.now)) {
				require.Equal(t, -1, x.index, "an expired timer is out of the heap")
				got = append(got, ids[x])
			}
			require.Equal(t, tt.expired, got)
			next, ok := h.next()
			if tt.next < 0 {
				require.False(t, ok, "no timer left")
				return
			}
			require.True(t, ok)
			require.Equal(t, at(tt.next), next)
		})
	}
}

func TestMsUntil(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 0},
		{0, 0},
		{time.Nanosecond, 1}, // rounded up: waking early finds nothing to do
		{time.Millisecond, 1},
		{1500 * time.Microsecond, 2},
		{time.Hour, 3600000},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, msUntil(now, now.Add(tt.d)), "%v", tt.d)
	}
	require.Equal(t, 5, earliest(-1, 5))
	require.Equal(t, 5, earliest(5, -1))
	require.Equal(t, -1, earliest(-1, -1))
	require.Equal(t, 0, earliest(7, 0))
}
