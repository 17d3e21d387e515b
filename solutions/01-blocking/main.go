// Command blocking is the server of chapter 1: it serves one connection at a time, from accept to close.
package main

import (
	"flag"

	"course/chapters/launch"
)

func main() {
	launch.Main(launch.Register(flag.CommandLine), serve)
}
