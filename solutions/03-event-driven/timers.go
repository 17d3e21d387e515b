package main

import (
	"container/heap"
	"time"
)

// A timer is the deadline of one connection: for its request head, its body, its next request, its response
// to make progress, or its lingering close. A connection has one timer at a time, which the loop moves as the
// connection goes from state to state.
//
// A blocking server gets deadlines from the kernel (a read deadline wakes the blocked read). An event loop
// has nobody blocked to wake: it keeps its deadlines itself, and asks epoll_wait to return no later than the
// nearest one.
type timer struct {
	when  time.Time
	index int   // the timer's place in the heap, or -1 when it is not in it
	c     *conn // the connection it belongs to
}

// timers is a min-heap of timers, the nearest deadline first: finding it costs nothing, and
// adding, moving or removing a timer costs O(log n), which matters with 10,000 connections
// whose timers move with every request. (nginx keeps its timers in a red-black tree; libuv and
// Go's runtime in heaps like this one.)
type timers []*timer

// set schedules t at when, whether or not it was scheduled.
func (h *timers) set(t *timer, when time.Time) {
	t.when = when
	if t.index >= 0 {
		heap.Fix(h, t.index)
		return
	}
	heap.Push(h, t)
}

// stop unschedules t, if it was scheduled.
func (h *timers) stop(t *timer) {
	if t.index >= 0 {
		heap.Remove(h, t.index)
	}
}

// next returns the nearest deadline, or false when no timer is scheduled.
func (h timers) next() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].when, true
}

// expired removes and returns the nearest timer if its deadline is not after now, or returns nil.
func (h *timers) expired(now time.Time) *timer {
	if len(*h) == 0 || (*h)[0].when.After(now) {
		return nil
	}
	return heap.Pop(h).(*timer)
}

// The methods of heap.Interface. Use set, stop and expired instead.

func (h timers) Len() int           { return len(h) }
func (h timers) Less(i, j int) bool { return h[i].when.Before(h[j].when) }

func (h timers) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timers) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timers) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
