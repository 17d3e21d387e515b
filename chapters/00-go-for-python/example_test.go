package goforpython

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"
)

// A worker pool: the shape of chapter 2's server. The Python twin is in the README.
func Example_pool() {
	queue := make(chan int, 2) // queue.Queue(maxsize=2)
	for job := 1; job <= 3; job++ {
		select {
		case queue <- job: // q.put_nowait(job)
			fmt.Println("queued", job)
		default: // except queue.Full: the server answers 503
			fmt.Println("queue full, refused", job)
		}
	}
	close(queue) // no more jobs: each worker's loop ends once the queue is empty

	var mu sync.Mutex // threading.Lock()
	done := 0
	var wg sync.WaitGroup
	for range 2 { // two workers: threading.Thread(target=worker).start(), twice
		wg.Go(func() {
			for job := range queue { // while (job := q.get()) is not None:
				mu.Lock() // with lock:
				done += job
				mu.Unlock()
			}
		})
	}
	wg.Wait() // t.join() for each thread
	fmt.Println("sum of the jobs done:", done)
	// Output:
	// queued 1
	// queued 2
	// queue full, refused 3
	// sum of the jobs done: 3
}

// firstLine returns the first line of the file at path.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("first line of the config: %w", err) // raise ConfigError(...) from err
	}
	defer f.Close() // with open(path) as f: closed however the function returns
	var line string
	if _, err := fmt.Fscanln(f, &line); err != nil {
		return "", fmt.Errorf("first line of %s: %w", path, err)
	}
	return line, nil
}

func Example_errors() {
	_, err := firstLine("/no/such/file")
	fmt.Println(err)
	fmt.Println(errors.Is(err, fs.ErrNotExist)) // except FileNotFoundError:
	// Output:
	// first line of the config: open /no/such/file: no such file or directory
	// true
}

// slowQuery stands for a call to a database or another service that honours its context.
func slowQuery(ctx context.Context) error {
	select {
	case <-time.After(time.Second): // the answer would come in a second
		return nil
	case <-ctx.Done(): // the caller's deadline passed, or it gave up
		return ctx.Err()
	}
}

func Example_context() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := slowQuery(ctx)
	fmt.Println(err, errors.Is(err, context.DeadlineExceeded), time.Since(start) < time.Second)
	// Output: context deadline exceeded true true
}
