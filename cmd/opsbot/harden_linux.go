//go:build linux

package main

import "golang.org/x/sys/unix"

// hardenProcess makes opsbot non-dumpable before it does anything else.
//
// Runbook processes run as the bot's own user. Without this, any of them
// could read /proc/<opsbot pid>/environ (SLACK_BOT_TOKEN, REDIS_URL with its
// password, PAGERDUTY_TOKEN…) or /proc/<pid>/mem and print it into Slack:
// a process may read another of the same user unless that one is not
// dumpable. Non-dumpable, opsbot's /proc files belong to root and the
// kernel refuses both reads to processes without CAP_SYS_PTRACE over it
// (which its runbooks never have in their own user namespace; see
// runbooks/exec_linux.go). It also means opsbot leaves no core dump, which
// would hold the same secrets.
func hardenProcess() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// processDumpable reports whether this process can still be read by others
// of its user, for opsbot doctor.
func processDumpable() (bool, error) {
	v, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
	return v != 0, err
}
