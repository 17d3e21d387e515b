package main

import (
	"golang.org/x/sys/unix"
	"sync"
)

func main() {
	events := make([]unix.EpollEvent, 8)
	unix.EpollWait(-1, events, 0)
	unix.Accept4(-1, unix.SOCK_NONBLOCK)
	var wg sync.WaitGroup
	wg.Go(func() {})
}
