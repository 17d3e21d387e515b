package push_test

import (
	"fmt"

	"course/chapters/http1"
	"course/chapters/push"
)

// Two pipelined requests arrive cut in the middle of a header, as two reads from a socket would give them.
func Example() {
	reads := []string{
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le",
		"ngth: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	p := push.NewParser(http1.DefaultLimits)
	for _, read := range reads {
		buf := []byte(read)
		for {
			n, ev, err := p.Feed(buf)
			buf = buf[n:]
			if err != nil {
				fmt.Println("refuse with", err)
				return
			}
			if ev == push.NeedMore {
				fmt.Println("NeedMore: wait for the next read")
				break
			}
			switch ev {
			case push.Head:
				fmt.Println("Head:", p.Request().Method, p.Request().Target)
			case push.Data:
				fmt.Printf("Data: %q\n", p.Data())
			case push.End:
				fmt.Println("End: answer it, then go on with the", len(buf), "bytes left")
			}
		}
	}
	// Output:
	// NeedMore: wait for the next read
	// Head: POST /echo
	// Data: "hello"
	// End: answer it, then go on with the 32 bytes left
	// Head: GET /hello
	// End: answer it, then go on with the 0 bytes left
	// NeedMore: wait for the next read
}
