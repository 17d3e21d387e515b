package main

import (
	"course/chapters/launch"
)

// Step 8: Python daemons (README: "Step 8: a real WSGI application").

// pythonCommand returns how to start daemon.py as one daemon of the group that dc describes: the program to
// run, its arguments, and what to add to its environment. The front end has unpacked daemon.py and the test
// applications (testapp.py, flaskapp.py) into the folder dir.
//
// The program is the Python interpreter dc.Python or, when that is empty, the one wsgi.Interpreter() finds.
// Its arguments are the path of daemon.py, its options, and last the application, dc.App ("testapp:app").
// Which options? Everything about this group that a daemon cannot find out by itself and must act on:
// `python3 chapters/wsgi/daemon.py --help` lists what it accepts (its durations are in seconds, such as 1.5),
// and the README's "Step 8" says which of them are the WSGI lesson (not --bind nor --backlog: a daemon of
// the group inherits the group's socket). The environment must let Python import
// the application: PYTHONPATH lists dir, then the folders of dc.PythonPath.
func pythonCommand(dc *launch.DaemonConfig, dir string) (path string, args, env []string, err error) {
	// TODO (step 8)
	return "", nil, nil, notWritten(8, "pythonCommand in python.go")
}
