package excerpt

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/tools/present"
)

// TestSlidesParse parses every deck as `make slides` serves it, which also reads every file that .code names.
func TestSlidesParse(t *testing.T) {
	decks, err := filepath.Glob(filepath.Join("..", "..", "slides", "*.slide"))
	require.NoError(t, err)
	for _, deck := range decks {
		t.Run(filepath.Base(deck), func(t *testing.T) {
			f, err := os.Open(deck)
			require.NoError(t, err)
			defer f.Close()
			ctx := &present.Context{ReadFile: os.ReadFile}
			doc, err := ctx.Parse(f, deck, 0)
			require.NoError(t, err)
			require.NotEmpty(t, doc.Title)
			require.GreaterOrEqual(t, len(doc.Sections), 5, "a deck has a handful of slides at least")
		})
	}
}
