package main

import (
	"golang.org/x/sys/unix"
	"net"
)

func main() {
	events := make([]unix.EpollEvent, 8)
	unix.EpollWait(-1, events, 0)
	unix.Accept4(-1, unix.SOCK_NONBLOCK)
	net.Listen("tcp", "127.0.0.1:0")
}
