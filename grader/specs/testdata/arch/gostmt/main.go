package main

import (
	"golang.org/x/sys/unix"
)

func main() {
	events := make([]unix.EpollEvent, 8)
	unix.EpollWait(-1, events, 0)
	unix.Accept4(-1, unix.SOCK_NONBLOCK)
	go func() {}()
}
