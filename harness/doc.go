// Package harness provides what the grader needs to drive a server under test as a black box: a raw
// HTTP/1.1 client with a strict response parser that records a transcript of every byte ([Conn],
// [ParseResponse]), a launcher that builds, starts and stops a server process and finds the processes it
// leaves behind ([Build], [Start]), and fault injectors for slow, abrupt and pipelining clients
// ([TrickleHeaders], [SlowReader], [ResetMidRequest], [ResetMidResponse], [Pipeline], [Garbage]).
//
// The client refuses to dial anything but a loopback address: the course only ever tests local servers.
package harness
