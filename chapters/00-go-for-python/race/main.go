// Command race counts to 2,000 with two goroutines and no lock: the race detector reports it.
//
//	go run -race ./chapters/00-go-for-python/race
package main

import (
	"fmt"
	"sync"
)

func main() {
	counter := 0
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for range 1000 {
				counter++ // read, add, write: another goroutine can write in between
			}
		})
	}
	wg.Wait()
	fmt.Println("counter:", counter)
}
