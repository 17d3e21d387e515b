package main

import (
	"golang.org/x/sys/unix"

	"course/chapters/launch"
)

func main() {
	events := make([]unix.EpollEvent, 8)
	unix.EpollWait(-1, events, 0)
	unix.Accept4(-1, unix.SOCK_NONBLOCK)
	launch.Accept(nil, nil)
}
