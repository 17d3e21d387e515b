package main

import "golang.org/x/sys/unix"

func main() {
	unix.Accept4(-1, unix.SOCK_NONBLOCK)
}
