package specs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// anchors1 are the sections of the chapter 1 README that specs may point to.
var anchors1 = []string{
	"#the-accept-loop", "#parsing-the-request", "#framing-the-body", "#keep-alive", "#limits",
	"#request-smuggling", "#timeouts", "#head-of-line-blocking", "#the-gateway",
}

func TestTablesAreComplete(t *testing.T) {
	for _, n := range Numbers() {
		ch, err := ForChapter(n)
		require.NoError(t, err)
		require.Equal(t, n, ch.Number)
		require.True(t, strings.HasPrefix(ch.Slug, fmt.Sprintf("%02d-", n)), ch.Slug)
		readme := "chapters/" + ch.Slug + "/README.md#"
		seen := map[string]bool{}
		for _, s := range ch.Specs {
			t.Run(s.ID, func(t *testing.T) {
				require.False(t, seen[s.ID], "duplicate id")
				seen[s.ID] = true
				require.NotEmpty(t, s.Title)
				require.GreaterOrEqual(t, s.Points, 1)
				require.LessOrEqual(t, s.Points, 3)
				require.NotNil(t, s.Check)
				require.NotEmpty(t, s.Hint)
				require.Regexp(t, `\{(addr|host|port)\}`, s.Repro, "a repro line names the server by placeholder")
				if strings.HasPrefix(s.ID, fmt.Sprintf("%d.", n)) {
					require.True(t, strings.HasPrefix(s.Why, readme), "a chapter's own specs point to its README: %s", s.Why)
				}
			})
		}
	}
}

func TestChapter1(t *testing.T) {
	ch, err := ForChapter(1)
	require.NoError(t, err)
	require.Equal(t, "01-blocking", ch.Slug)
	require.Equal(t, []string{"-header-timeout", "1s", "-idle-timeout", "1s", "-max-body", "1048576"}, ch.Flags)
	for i, s := range ch.Specs {
		require.Equal(t, fmt.Sprintf("1.%d", i+1), s.ID, "ids follow the order of the table")
		_, anchor, _ := strings.Cut(s.Why, "#")
		require.Contains(t, anchors1, "#"+anchor, s.ID)
	}
	later := correctness1()
	require.Len(t, later, len(ch.Specs)-1, "later chapters rerun all but the head-of-line measurement")
	for _, s := range later {
		require.NotEqual(t, headOfLine1.ID, s.ID)
	}
}

func TestForChapterUnknown(t *testing.T) {
	_, err := ForChapter(42)
	require.EqualError(t, err, fmt.Sprintf("no specs for chapter 42 (chapters with specs: %v)", Numbers()))
}

func TestChunked(t *testing.T) {
	got := chunked([]chunk{{"Hello", ";a=b"}, {strings.Repeat("x", 26), ""}}, "X-T: 1")
	require.Equal(t, "5;a=b\r\nHello\r\n1A\r\n"+strings.Repeat("x", 26)+"\r\n0\r\nX-T: 1\r\n\r\n", got)
	require.Equal(t, "0\r\n\r\n", chunked(nil))
}

func TestRequestHelpers(t *testing.T) {
	require.Equal(t, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", get("/hello", "Connection: close"))
	require.Equal(t, "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi", request("POST", "/echo", "hi", "Content-Length: 2"))
	require.Equal(t, "GET /hello HTTP/1.1", firstLine(get("/hello")))
	require.Equal(t, "GET /"+strings.Repeat("a", 45)+"... (70 bytes)", firstLine(get("/"+strings.Repeat("a", 56))))
	require.Equal(t, `\x00\xff`, firstLine("\x00\xff\r\nrest"))
}

func TestPick(t *testing.T) {
	env := map[string]string{"A": "1", "B": ""}
	require.Equal(t, map[string]string{"A": "1", "B": "", "C": "(missing)"}, pick(env, []string{"A", "B", "C"}))
	require.Equal(t, []string{"A", "B"}, keys(env))
}
