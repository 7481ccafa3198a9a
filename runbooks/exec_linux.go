//go:build linux

package runbooks

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// startPlans are the ways to start a run for the configured isolation,
// most isolated first.
//
// IsolationNamespace starts the runbook as init of a new PID namespace
// inside a new user namespace. The user namespace is there even when the
// bot runs as root, where a PID namespace alone would be allowed: a child
// holding root's capabilities in the bot's own user namespace can read the
// bot's /proc/PID/environ although the bot is not dumpable. In its own user
// namespace the child holds capabilities only there.
//
// As root, user and group IDs are mapped to themselves (all the IDs the bot
// can see), so files and permissions look the same to the runbook. An
// unprivileged bot cannot map them: it is not dumpable, so the child's
// /proc/PID/uid_map (written before the child runs) belongs to root. Its
// runbooks then see their IDs as the overflow ID (nobody) inside the
// namespace, while the kernel still checks file access with the real ones.
func startPlans(iso Isolation) []plan {
	group := plan{iso: IsolationGroup, detail: "process group", apply: func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}}
	if iso == IsolationGroup {
		return []plan{group}
	}
	var plans []plan
	if uid := os.Geteuid(); uid == 0 {
		plans = append(plans, plan{iso: IsolationNamespace, detail: "PID and user namespace, IDs mapped to themselves", apply: func(c *exec.Cmd) {
			c.SysProcAttr = &syscall.SysProcAttr{
				Setpgid:                    true,
				Cloneflags:                 syscall.CLONE_NEWPID | syscall.CLONE_NEWUSER,
				UidMappings:                identityMaps("/proc/self/uid_map", uid),
				GidMappings:                identityMaps("/proc/self/gid_map", os.Getegid()),
				GidMappingsEnableSetgroups: true,
			}
		}})
	}
	plans = append(plans, plan{iso: IsolationNamespace, detail: "PID and user namespace, IDs unmapped (shown as nobody inside)", apply: func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWUSER}
	}})
	if iso == IsolationAuto {
		plans = append(plans, group)
	}
	return plans
}

// identityMaps maps every ID this process can see (the inside column of its
// own map) to itself; own is the fallback when the map cannot be read.
func identityMaps(file string, own int) []syscall.SysProcIDMap {
	data, err := os.ReadFile(file)
	var maps []syscall.SysProcIDMap
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 {
				continue
			}
			inside, err1 := strconv.Atoi(f[0])
			count, err2 := strconv.Atoi(f[2])
			if err1 != nil || err2 != nil || count <= 0 {
				continue
			}
			maps = append(maps, syscall.SysProcIDMap{ContainerID: inside, HostID: inside, Size: count})
		}
	}
	if len(maps) == 0 {
		maps = []syscall.SysProcIDMap{{ContainerID: own, HostID: own, Size: 1}}
	}
	return maps
}

// startRefused reports whether a start may have failed for its namespaces
// (clone refused by the kernel or a seccomp policy, ID maps not writable)
// rather than for the command's sake; the next plan tells which.
func startRefused(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EACCES, syscall.EINVAL, syscall.ENOSPC, syscall.EUSERS, syscall.ENOSYS} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// killMarked kills every process whose environment holds entry (NAME=value
// of RunMarkerVar): what a run left behind after leaving its process group.
// It repeats while it finds some, since a marked process may fork while the
// scan runs; processes of other users, and those that cleared their
// environment, are out of its reach.
func killMarked(entry string) {
	want := []byte(entry)
	self := os.Getpid()
	for round := 0; round < 5; round++ {
		dirs, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := 0
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || pid == self {
				continue
			}
			env, err := os.ReadFile("/proc/" + d.Name() + "/environ")
			if err != nil {
				continue
			}
			for _, kv := range bytes.Split(env, []byte{0}) {
				if bytes.Equal(kv, want) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					found++
					break
				}
			}
		}
		if found == 0 {
			return
		}
	}
}
