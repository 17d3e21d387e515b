package prefork_test

import (
	"testing"

	"course/chapters/prefork"
	"course/chapters/prefork/preforktest"
)

// The reference master passes the scenarios that chapter 4's steps test the learner's master with.

func reference(cfg prefork.Config) preforktest.Run { return prefork.New(cfg).Run }

func TestRespawn(t *testing.T)      { preforktest.Respawn(t, reference) }
func TestStop(t *testing.T)         { preforktest.Stop(t, reference) }
func TestScale(t *testing.T)        { preforktest.Scale(t, reference) }
func TestTimeout(t *testing.T)      { preforktest.Timeout(t, reference) }
func TestBootFailures(t *testing.T) { preforktest.BootFailures(t, reference) }
func TestReload(t *testing.T)       { preforktest.Reload(t, reference) }
