package push_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"course/chapters/gateway"
	"course/chapters/http1"
	"course/chapters/push"
)

// message is a request as a test sees it: its head, and its body as far as it was read.
type message struct {
	Method        string
	Target        string
	Proto         string
	Major, Minor  int
	Header        []gateway.Header
	ContentLength int64
	Body          string
}

func newMessage(req *gateway.Request) message {
	return message{req.Method, req.Target, req.Proto, req.Major, req.Minor, req.Header, req.ContentLength, ""}
}

// outcome is what a parser made of a stream of bytes: the requests it found, and how the stream ended.
type outcome struct {
	Messages []message
	Code     int    // the status of the error that stopped the parser; 0 when the input ended cleanly
	Reason   string // what the error said (not compared: the status is the contract)
}

// errCode returns the status of a parser's error, or -1 for an error that is not a refusal.
func errCode(err error) (int, string) {
	var he *http1.Error
	if errors.As(err, &he) {
		return he.Code, he.Reason
	}
	return -1, err.Error()
}

// blocking reads every request of raw with http1.ReadRequest, the blocking parser of chapters 1 and 2.
func blocking(raw string, lim http1.Limits) outcome {
	br := bufio.NewReader(strings.NewReader(raw))
	var o outcome
	for {
		req, err := http1.ReadRequest(br, lim)
		if errors.Is(err, io.EOF) {
			return o
		}
		if err != nil {
			o.Code, o.Reason = errCode(err)
			return o
		}
		m := newMessage(req)
		body, err := io.ReadAll(req.Body)
		m.Body = string(body)
		o.Messages = append(o.Messages, m)
		if err != nil {
			o.Code, o.Reason = errCode(err)
			return o
		}
	}
}

// pushed feeds raw to a push.Parser in pieces of the given sizes, then tells it the input ended. It checks the
// contract of Feed on the way: NeedMore comes only once every byte was used, and no Data or End comes without
// a Head before it.
func pushed(raw string, lim http1.Limits, pieces []int) outcome {
	p := push.NewParser(lim)
	var o outcome
	var cur *message
	fail := func(err error) outcome {
		if cur != nil {
			o.Messages = append(o.Messages, *cur)
		}
		o.Code, o.Reason = errCode(err)
		return o
	}
	in := []byte(raw)
	for _, size := range pieces {
		// A copy, which the test then spoils: the parser must not keep a reference to what it was given.
		orig := append([]byte(nil), in[:size]...)
		piece := orig
		in = in[size:]
		for {
			n, ev, err := p.Feed(piece)
			if err != nil {
				return fail(err)
			}
			piece = piece[n:]
			switch ev {
			case push.NeedMore:
				if len(piece) > 0 {
					return fail(fmt.Errorf("NeedMore with %d bytes unused", len(piece)))
				}
			case push.Head:
				if cur != nil {
					return fail(errors.New("a second Head before End"))
				}
				m := newMessage(p.Request())
				cur = &m
			case push.Data:
				if cur == nil {
					return fail(errors.New("Data before Head"))
				}
				cur.Body += string(p.Data())
			case push.End:
				if cur == nil {
					return fail(errors.New("End before Head"))
				}
				o.Messages = append(o.Messages, *cur)
				cur = nil
			}
			if ev == push.NeedMore {
				for i := range orig {
					orig[i] = '!'
				}
				break
			}
		}
	}
	if err := p.EOF(); err != nil {
		return fail(err)
	}
	if cur != nil {
		return fail(errors.New("the input ended cleanly in the middle of a request"))
	}
	return o
}

// A splitter cuts an input of n bytes into the sizes of the pieces fed one after the other.
type splitter struct {
	name  string
	split func(n int) []int
}

var splitters = []splitter{
	{"whole", func(n int) []int { return []int{n} }},
	{"byte at a time", byteAtATime},
	{"random 1", randomSplit(1)},
	{"random 2", randomSplit(2)},
	{"random 3", randomSplit(3)},
}

func byteAtATime(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// randomSplit cuts n bytes into pieces of random sizes, mostly small ones, the same for the same seed.
func randomSplit(seed uint64) func(n int) []int {
	return func(n int) []int {
		r := rand.New(rand.NewPCG(seed, uint64(n)))
		var s []int
		for n > 0 {
			k := min(n, 1+r.IntN(1+r.IntN(64)))
			s = append(s, k)
			n -= k
		}
		return s
	}
}

// twoPieces cuts n bytes in two at i.
func twoPieces(n, i int) []int { return []int{i, n - i} }

// corpus returns every input of the tables of this package, one request after another, and a request after
// each valid one (which must start at the right byte).
func corpus() []string {
	var in []string
	for _, tt := range validCases {
		in = append(in, tt.raw, tt.raw+"GET /next HTTP/1.1\r\nHost: y\r\n\r\n")
	}
	for _, tt := range refusedCases {
		in = append(in, tt.raw)
	}
	return append(in, pipelined)
}

// TestSameAsReadRequest feeds every input of the tables, and every prefix of the shorter ones (a client that
// closed early), to both parsers and checks that they find the same requests and end the same way, whatever
// the split of the input.
func TestSameAsReadRequest(t *testing.T) {
	for i, raw := range corpus() {
		want := blocking(raw, limits)
		if want.Code == -1 {
			t.Fatalf("input %d %q: http1.ReadRequest: %s", i, clip(raw), want.Reason)
		}
		splits := splitters
		if len(raw) <= 400 {
			for k := 1; k < len(raw); k++ {
				splits = append(splits, splitter{fmt.Sprintf("split at %d", k), func(n int) []int { return twoPieces(n, k) }})
			}
		}
		for _, sp := range splits {
			got := pushed(raw, limits, sp.split(len(raw)))
			if diff := cmp.Diff(want, got, ignoreReason); diff != "" {
				t.Fatalf("input %d %q fed %s: push and http1 differ (-http1 +push):\n%s", i, clip(raw), sp.name, diff)
			}
		}
		if len(raw) > 400 {
			continue
		}
		for k := range len(raw) {
			prefix := raw[:k]
			want := blocking(prefix, limits)
			for _, sp := range splitters[:3] {
				got := pushed(prefix, limits, sp.split(len(prefix)))
				if diff := cmp.Diff(want, got, ignoreReason); diff != "" {
					t.Fatalf("input %d cut at %d %q fed %s: push and http1 differ (-http1 +push):\n%s", i, k, clip(prefix), sp.name, diff)
				}
			}
		}
	}
}

// FuzzSameAsReadRequest checks that the two parsers agree on any input, split at random, with the default
// limits or small ones (which the fuzzer reaches more easily).
func FuzzSameAsReadRequest(f *testing.F) {
	for _, raw := range corpus() {
		if len(raw) < 1000 {
			f.Add([]byte(raw), uint64(len(raw)))
		}
	}
	small := http1.Limits{MaxLine: 40, MaxHeaders: 3, MaxHeaderBytes: 48, MaxBody: 24}
	f.Fuzz(func(t *testing.T, raw []byte, seed uint64) {
		lim := limits
		if seed%2 == 1 {
			lim = small
		}
		want := blocking(string(raw), lim)
		if want.Code == -1 {
			t.Fatalf("http1.ReadRequest: %s", want.Reason)
		}
		for _, pieces := range [][]int{{len(raw)}, randomSplit(seed)(len(raw))} {
			got := pushed(string(raw), lim, pieces)
			if diff := cmp.Diff(want, got, ignoreReason); diff != "" {
				t.Fatalf("%q fed in pieces %v: push and http1 differ (-http1 +push):\n%s", raw, pieces, diff)
			}
		}
	})
}

var ignoreReason = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().String() == ".Reason"
}, cmp.Ignore())

// clip shortens s for a test message.
func clip(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%s... (%d bytes)", s[:80], len(s))
	}
	return s
}
