// Package goforpython holds the runnable examples of "Go for Python developers" (README.md beside it): each
// Example function is one of the README's snippets, and `go test` checks that it prints what the README says.
package goforpython
