// Package sample is what source_test reads: a few imports, calls and go statements.
package sample

import (
	"net"
	"sync"

	sys "golang.org/x/sys/unix"
)

func wait(epfd int) {
	events := make([]sys.EpollEvent, 8)
	sys.EpollWait(epfd, events, -1)
}

func serve(ln net.Listener) {
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go c.Close()
		wg.Go(func() { first([]int{1}) })
	}
}

func first[T any](s []T) T { return s[0] }

// own has a method of the name of net.Listener's; sys.EpollCreate1( in a comment or a string is no call.
type own struct{}

func (own) Accept() {}

func useOwn() string {
	own{}.Accept()
	return "sys.EpollCreate1("
}
