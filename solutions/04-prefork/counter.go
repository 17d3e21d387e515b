package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"course/chapters/app"
	"course/chapters/prefork"
)

// counterFiles returns the files the master passes on to every worker for a counter of the given kind:
// none for a local counter; for a shared one, the 8 bytes that hold its value, in a file in memory
// (memfd_create(2)) that every worker inherits at fd 5 (prefork.FirstAppFD).
func counterFiles(kind string) ([]*os.File, error) {
	switch kind {
	case "local":
		return nil, nil
	case "file", "shm":
		fd, err := unix.MemfdCreate("counter", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("the shared counter: memfd_create: %w", err)
		}
		if err := unix.Ftruncate(fd, 8); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("the shared counter: ftruncate: %w", err)
		}
		return []*os.File{os.NewFile(uintptr(fd), "counter")}, nil
	}
	return nil, fmt.Errorf("-counter %q: want local, file or shm", kind)
}

// openCounter returns the counter of the given kind, in a worker.
func openCounter(kind string) (app.Counter, error) {
	switch kind {
	case "local":
		return app.NewLockedCounter(), nil // this process's own: nothing is shared
	case "file":
		return openFileCounter(prefork.FirstAppFD)
	case "shm":
		return openShmCounter(prefork.FirstAppFD)
	}
	return nil, fmt.Errorf("-counter %q: want local, file or shm", kind)
}

// fileCounter is a counter that every worker shares through a file: each Add locks the file, reads the
// value, writes it back increased, and unlocks.
type fileCounter struct{ fd int }

// openFileCounter opens the counter in the file at descriptor fd. A flock(2) lock belongs to an open file
// description, and an inherited descriptor shares its description with the master's and every other
// worker's: they would all hold "the" lock at once. Opening /proc/self/fd/N makes a description of our own.
func openFileCounter(fd int) (*fileCounter, error) {
	own, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the shared counter: %w", err)
	}
	return &fileCounter{fd: own}, nil
}

func (c *fileCounter) Add(n int64) int64 {
	must(unix.Flock(c.fd, unix.LOCK_EX), "flock")
	defer unix.Flock(c.fd, unix.LOCK_UN)
	v := c.read() + n
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	_, err := unix.Pwrite(c.fd, b[:], 0)
	must(err, "pwrite")
	return v
}

func (c *fileCounter) Value() int64 {
	must(unix.Flock(c.fd, unix.LOCK_SH), "flock")
	defer unix.Flock(c.fd, unix.LOCK_UN)
	return c.read()
}

// read reads the value; the caller holds the lock.
func (c *fileCounter) read() int64 {
	var b [8]byte
	_, err := unix.Pread(c.fd, b[:], 0)
	must(err, "pread")
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// must panics, which the gateway answers with a 500, on an error of a system call that cannot fail on a
// file in memory.
func must(err error, call string) {
	if err != nil {
		panic(fmt.Sprintf("the shared counter: %s: %v", call, err))
	}
}

// shmCounter is a counter in memory that every worker maps: an atomic add on it is one instruction
// (LOCK XADD on x86), which the processor makes atomic whichever process runs it.
type shmCounter struct{ n *int64 }

// openShmCounter maps the 8 bytes of the file at descriptor fd, shared: a write by one process is seen by
// every process that maps it.
func openShmCounter(fd int) (*shmCounter, error) {
	mem, err := unix.Mmap(fd, 0, 8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("the shared counter: mmap: %w", err)
	}
	return &shmCounter{n: (*int64)(unsafe.Pointer(&mem[0]))}, nil // page-aligned, so 8-byte aligned
}

func (c *shmCounter) Add(n int64) int64 { return atomic.AddInt64(c.n, n) }
func (c *shmCounter) Value() int64      { return atomic.LoadInt64(c.n) }
