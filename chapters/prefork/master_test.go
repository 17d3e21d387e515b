package prefork_test

import (
	"testing"

	"course/chapters/prefork/preforktest"
)

// The reference master passes the scenarios that chapter 4's steps test the learner's master with.

func TestRespawn(t *testing.T)      { preforktest.Respawn(t, preforktest.Reference) }
func TestStop(t *testing.T)         { preforktest.Stop(t, preforktest.Reference) }
func TestScale(t *testing.T)        { preforktest.Scale(t, preforktest.Reference) }
func TestTimeout(t *testing.T)      { preforktest.Timeout(t, preforktest.Reference) }
func TestBootFailures(t *testing.T) { preforktest.BootFailures(t, preforktest.Reference) }
func TestReload(t *testing.T)       { preforktest.Reload(t, preforktest.Reference) }
