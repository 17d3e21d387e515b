package slides

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"course/grader/browser"
)

// TestCheckFindsEachProblem checks a deck made to fail: a slide that fits, then one of each problem.
func TestCheckFindsEachProblem(t *testing.T) {
	chromium, err := browser.Find()
	if err != nil {
		if browser.Skippable() {
			t.Skip(err)
		}
		t.Fatalf("%v (CI=true: the slide checks must run; .ci/install installs Chromium)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	present, err := BuildPresent(ctx, "..", t.TempDir())
	require.NoError(t, err)
	deck := filepath.Join("testdata", "slides", "bad.slide")
	problems, err := CheckAll(ctx, chromium, present, "testdata", []string{deck})
	require.NoError(t, err)

	got := map[int][]string{}
	for _, p := range problems {
		require.Equal(t, filepath.Join("slides", "bad.slide"), p.Deck)
		got[p.Slide] = append(got[p.Slide], p.What)
	}
	require.NotContains(t, got, 2, "the slide that fits")
	want := map[int]string{
		3: "below the page",
		4: "a code line of 149 columns",
		5: "a backtick shown as text",
	}
	for slide, what := range want {
		require.Len(t, got[slide], 1, "slide %d: %v", slide, got[slide])
		require.True(t, strings.Contains(got[slide][0], what), "slide %d: got %q, want %q", slide, got[slide][0], what)
	}
	require.Len(t, got, len(want), "%v", problems)
}
