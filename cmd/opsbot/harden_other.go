//go:build !linux

package main

// hardenProcess has nothing to do where /proc/PID/environ does not exist.
func hardenProcess() error { return nil }

// processDumpable: no /proc to read other processes through.
func processDumpable() (bool, error) { return false, nil }
