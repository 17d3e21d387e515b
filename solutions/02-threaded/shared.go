package main

import (
	"course/chapters/app"
	"course/chapters/gateway"
)

// newCounter returns the data that the app's /counter shares between requests: a count under a mutex.
func newCounter() app.Counter { return app.NewLockedCounter() }

// describe returns srv with what is true of this server: the pool's workers call the app at once, in one
// process.
func describe(srv gateway.Server) gateway.Server {
	srv.MultiThread, srv.MultiProcess = true, false
	return srv
}
