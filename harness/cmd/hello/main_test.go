package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServe(t *testing.T) {
	for _, target := range []string{"/", "/hello", "/any/path?x=1"} {
		w := httptest.NewRecorder()
		serve(w, httptest.NewRequest(http.MethodGet, target, nil))
		require.Equal(t, http.StatusOK, w.Code, target)
		require.Equal(t, "Hello, World!\n", w.Body.String(), target)
		require.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"), target)
	}
}
