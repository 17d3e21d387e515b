package main

import (
	"errors"
	"fmt"
	"net"
)

// statusError is an error that the gateway answers with its status (gateway.StatusOf): return one from the
// front end's app to answer 502, 503 or 504.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string   { return e.msg }
func (e *statusError) StatusCode() int { return e.code }

// failWith returns a statusError with status code and a message that says what went wrong.
func failWith(code int, format string, args ...any) error {
	return &statusError{code: code, msg: fmt.Sprintf(format, args...)}
}

// isTimeout reports whether err is a deadline that passed (SetDeadline, SetReadDeadline, SetWriteDeadline).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
