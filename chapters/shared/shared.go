// Package shared holds data that several processes share: a counter kept in a file under a lock, and one
// in memory mapped by every process, the two ways chapter 4 teaches to share the test app's counter
// between worker processes (-counter file, -counter shm). They are the reference answers to its step 7.
//
// Both keep the value in the 8 bytes of one file that the master makes (New) and that every worker
// inherits; each worker opens its counter on the descriptor it inherited.
package shared

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// New returns a file of 8 bytes in memory (memfd_create(2)), all zero, for the master to pass on to its
// workers.
func New() (*os.File, error) {
	fd, err := unix.MemfdCreate("counter", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("the shared counter: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, 8); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("the shared counter: ftruncate: %w", err)
	}
	return os.NewFile(uintptr(fd), "counter"), nil
}

// FileCounter is a counter in a file: each Add locks the file, reads the value, writes it back increased,
// and unlocks. Four system calls, and a wait for the lock while another process holds it.
//
// A flock(2) lock belongs to an open file description, not to a thread: a second LOCK_EX on the
// description that holds the lock succeeds at once, and the first LOCK_UN releases it for both. So the
// lock keeps other processes (each with a description of its own) apart, and a mutex keeps this
// process's goroutines apart: a worker with -threads above 1 runs several Adds at once.
type FileCounter struct {
	mu sync.Mutex // the goroutines of this process, which share its description and so its flock
	fd int
}

// OpenFileCounter opens the counter in the file at descriptor fd. A flock(2) lock belongs to an open file
// description, and an inherited descriptor shares its description with the master's and every other
// worker's: all of them would hold "the" lock at once. Opening /proc/self/fd/N makes a description of this
// process's own, whose lock excludes the others.
func OpenFileCounter(fd int) (*FileCounter, error) {
	own, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the shared counter: %w", err)
	}
	return &FileCounter{fd: own}, nil
}

// Add adds n to the counter and returns the new value.
func (c *FileCounter) Add(n int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	must(unix.Flock(c.fd, unix.LOCK_EX), "flock")
	defer unix.Flock(c.fd, unix.LOCK_UN)
	v := Read(c.fd) + n
	Write(c.fd, v)
	return v
}

// Value returns the counter's value.
func (c *FileCounter) Value() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	must(unix.Flock(c.fd, unix.LOCK_SH), "flock")
	defer unix.Flock(c.fd, unix.LOCK_UN)
	return Read(c.fd)
}

// Read reads the value in the file at descriptor fd, without a lock.
func Read(fd int) int64 {
	var b [8]byte
	_, err := unix.Pread(fd, b[:], 0)
	must(err, "pread")
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// Write writes v in the file at descriptor fd, without a lock.
func Write(fd int, v int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(v))
	_, err := unix.Pwrite(fd, b[:], 0)
	must(err, "pwrite")
}

// must panics, which the gateway answers with a 500, on an error of a system call that cannot fail on a
// file in memory.
func must(err error, call string) {
	if err != nil {
		panic(fmt.Sprintf("the shared counter: %s: %v", call, err))
	}
}

// MemoryCounter is a counter in memory that every process maps: an atomic add is one instruction (LOCK
// XADD on x86), which the processor makes atomic whichever process runs it.
type MemoryCounter struct{ n *int64 }

// OpenMemoryCounter maps the 8 bytes of the file at descriptor fd into memory, shared (MAP_SHARED): what
// one process writes there, every process that maps the file sees.
func OpenMemoryCounter(fd int) (*MemoryCounter, error) {
	mem, err := Map(fd)
	if err != nil {
		return nil, err
	}
	return &MemoryCounter{n: mem}, nil
}

// Map maps the 8 bytes of the file at descriptor fd, shared, and returns them as an int64.
func Map(fd int) (*int64, error) {
	mem, err := unix.Mmap(fd, 0, 8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("the shared counter: mmap: %w", err)
	}
	return (*int64)(unsafe.Pointer(&mem[0])), nil // a mapping starts on a page: 8-byte aligned
}

// Add adds n to the counter and returns the new value.
func (c *MemoryCounter) Add(n int64) int64 { return atomic.AddInt64(c.n, n) }

// Value returns the counter's value.
func (c *MemoryCounter) Value() int64 { return atomic.LoadInt64(c.n) }
