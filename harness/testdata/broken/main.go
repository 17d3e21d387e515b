// Command broken does not compile: the launcher tests check that Build reports the compiler's error.
package main

func main() {
	var n int = "not a number"
	_ = n
}
