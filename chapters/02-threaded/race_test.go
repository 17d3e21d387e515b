//go:build race

package main

// raceDetector reports whether the tests were built with the race detector (go test -race).
const raceDetector = true
