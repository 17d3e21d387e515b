package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func chromium(t *testing.T) string {
	t.Helper()
	p, err := Find()
	if err != nil {
		if Skippable() {
			t.Skip(err)
		}
		t.Fatalf("%v (CI=true: the browser checks must run; .ci/install installs it)", err)
	}
	return p
}

// TestOpenEvalClose loads a page served on loopback, reads its layout, and checks that Close leaves no process
// of the browser behind.
func TestOpenEvalClose(t *testing.T) {
	path := chromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!DOCTYPE html><title>t</title><div id=box style="width:1500px;height:10px"></div>`)
	}))
	defer srv.Close()

	b, err := Start(path, 1280, 900)
	require.NoError(t, err)
	pgid := b.Pid()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p, err := b.Open(ctx, srv.URL)
	require.NoError(t, err)
	var got struct {
		Title  string
		Width  int
		Scroll int
	}
	require.NoError(t, p.Eval(ctx, `({Title: document.title, Width: innerWidth, Scroll: document.documentElement.scrollWidth})`, &got))
	require.Equal(t, "t", got.Title)
	require.Equal(t, 1280, got.Width, "the window size given to Start")
	require.Greater(t, got.Scroll, got.Width, "layout is real: a 1500px box overflows a 1280px window")

	err = p.Eval(ctx, `nosuchname`, nil)
	require.ErrorContains(t, err, "nosuchname", "a JavaScript error is reported")
	require.NoError(t, p.Close(ctx))

	require.NoError(t, b.Close())
	require.Empty(t, inGroup(pgid), "processes of the browser left after Close")
}

// inGroup lists the live processes (not zombies: their parent, or init, reaps them) whose process group is pgid.
func inGroup(pgid int) []string {
	ents, _ := os.ReadDir("/proc")
	var left []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			left = append(left, s)
		}
	}
	return left
}
