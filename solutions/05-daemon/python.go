package main

import (
	"course/chapters/launch"
	"course/chapters/wsgi"
)

// The reference answer to step 8 is package wsgi's Command.

// pythonCommand returns how to start daemon.py, unpacked in dir, as one daemon of the group dc describes.
func pythonCommand(dc *launch.DaemonConfig, dir string) (path string, args, env []string, err error) {
	return wsgi.Command(dc, dir)
}
