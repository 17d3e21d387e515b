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
// Its arguments are the path of daemon.py, then its options (python3 daemon.py --help lists them): tell it
// how many processes and threads run the application (--processes, --threads), so that it can tell the
// application the truth in wsgi.multiprocess and wsgi.multithread; pass on the timeouts that are a daemon's
// to enforce (--queue-timeout, --request-timeout, --socket-timeout, --shutdown-timeout, in seconds, such as
// 1.5; 0 for none) and --maximum-requests; and last, the application, dc.App ("testapp:app"). The
// environment must let Python import the application: PYTHONPATH lists dir, then the folders of
// dc.PythonPath.
func pythonCommand(dc *launch.DaemonConfig, dir string) (path string, args, env []string, err error) {
	// TODO (step 8)
	return "", nil, nil, notWritten(8, "pythonCommand in python.go")
}
